import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

export default [
	...configWithoutCloudSupport,
	{
		files: ['package.json'],
		rules: {
			// IMAP, SMTP and MSAL need real protocol libraries; this package is for self-hosted n8n only.
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
			// Overrides only pin transitive versions for our own dev install (this registry mirror lacks newer ones).
			'@n8n/community-nodes/no-overrides-field': 'off',
		},
	},
	{
		files: ['nodes/M365Mail/transport/**/*.ts'],
		rules: {
			// transport/ raises MailServiceError (no n8n imports there); the node layer wraps it in NodeApiError.
			'@n8n/community-nodes/require-node-api-error': 'off',
		},
	},
];
