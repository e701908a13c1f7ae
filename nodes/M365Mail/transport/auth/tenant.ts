/** Tenant names as Entra accepts them in authority URLs. */
import { MailServiceError } from './errors';

export const MULTI_TENANT_AUDIENCES = ['common', 'organizations', 'consumers'] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

function tenantError(message: string, fix: string): MailServiceError {
	return new MailServiceError(message, fix, 'tenant');
}

/**
 * Normalises and validates a tenant. Delegated credentials may use `common`, `organizations` or
 * `consumers`; app-only (client credentials) needs a concrete tenant, as Entra refuses the others.
 */
export function validateTenant(raw: string | undefined, options: { appOnly: boolean }): string {
	const tenant = (raw ?? '').trim();
	if (!tenant) {
		throw tenantError(
			'Tenant is empty',
			options.appOnly
				? 'Enter your Directory (tenant) ID or primary domain, e.g. contoso.onmicrosoft.com (Entra admin center > Overview).'
				: 'Enter "organizations", or your Directory (tenant) ID or domain.',
		);
	}
	const lower = tenant.toLowerCase();
	if ((MULTI_TENANT_AUDIENCES as readonly string[]).includes(lower)) {
		if (options.appOnly) {
			throw tenantError(
				`App-only access cannot use the tenant "${lower}"`,
				'Client credentials need a concrete tenant: enter the Directory (tenant) ID or a verified domain of the tenant that owns the mailbox.',
			);
		}
		return lower;
	}
	if (GUID.test(tenant)) return lower;
	if (DOMAIN.test(tenant)) return lower;
	throw tenantError(
		// Never echo the value: a secret pasted into the wrong field would reach logs and executions.
		`The tenant (${tenant.length} characters) is not a tenant ID or domain`,
		'Use the Directory (tenant) ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47) or a verified domain such as contoso.onmicrosoft.com, without https:// or slashes.',
	);
}
