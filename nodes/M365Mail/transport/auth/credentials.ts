/** The n8n credential types this package defines (their `name`). */
export const DELEGATED_CREDENTIAL = 'm365MailOAuth2Api';
export const APP_ONLY_CREDENTIAL = 'm365MailAppOnlyApi';
export type CredentialType = typeof DELEGATED_CREDENTIAL | typeof APP_ONLY_CREDENTIAL;
