/**
 * Dates typed into parameters, read as n8n's own nodes read them: in the workflow's time zone (a value
 * without an offset means local time there, not on the server), with luxon.
 */
import type { IExecuteFunctions } from 'n8n-workflow';
import { DateTime } from 'luxon';

import { MailServiceError } from '../transport/auth/errors';

/** A date parameter's value (ISO text, a luxon DateTime, a JS Date or epoch ms) as a Date. */
export function parameterDate(
	ctx: Pick<IExecuteFunctions, 'getTimezone'>,
	value: unknown,
	label: string,
): Date | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	const zone = ctx.getTimezone();
	let parsed: DateTime;
	if (DateTime.isDateTime(value)) parsed = value;
	else if (value instanceof Date) parsed = DateTime.fromJSDate(value);
	else if (typeof value === 'number') parsed = DateTime.fromMillis(value);
	else {
		const text = String(value).trim();
		parsed = DateTime.fromISO(text, { zone });
		if (!parsed.isValid) parsed = DateTime.fromRFC2822(text, { zone });
		if (!parsed.isValid) parsed = DateTime.fromSQL(text, { zone });
	}
	if (!parsed.isValid) {
		throw new MailServiceError(
			`${label} is not a date`,
			`Enter ${label} as a date, for example 2026-12-01T17:00:00 (the workflow's time zone, ${zone}) or with an offset, 2026-12-01T17:00:00Z.`,
			'input',
		);
	}
	return parsed.toJSDate();
}
