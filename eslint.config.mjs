import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

export default [
	...configWithoutCloudSupport,
	{
		files: ['package.json'],
		rules: {
			// IMAP, SMTP and MSAL need real protocol libraries; this package is for self-hosted n8n only.
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
		},
	},
];
