/**
 * Send and Wait for Response with a Custom Form: the fields the workflow defines, the form the page
 * a link opens shows (plain HTML, no script: the page's CSP allows none), and the answer read back
 * from the form's POST.
 *
 * The fields are read the way n8n's Form node writes them (`fieldLabel`, `fieldType`,
 * `fieldOptions.values[].option`, `multiselect`, `requiredField`, `placeholder`), from the node's
 * "Form Fields" or a JSON array of the same objects, so a field list written for n8n's own Send and
 * Wait nodes works here for the types this form offers. The answer is `{ data: { <label>: value } }`,
 * as n8n's.
 *
 * Whoever opens the link can post anything to it: every value is checked against its field (a
 * choice must be one of the field's choices, a number a number, a date a date) before anything is
 * recorded, and a wrong answer shows the form again with what was wrong.
 */
import { jsonParse, type IDataObject, type INodeProperties } from 'n8n-workflow';

import { escapeHtml } from './helpers';
import { MAX_ANSWER } from './responsePages';

export const FIELD_TYPES = {
	text: 'Text',
	textarea: 'Textarea',
	number: 'Number',
	email: 'Email',
	date: 'Date',
	dropdown: 'Dropdown List',
	radio: 'Radio Buttons',
	checkbox: 'Checkboxes',
} as const;
type FieldType = keyof typeof FIELD_TYPES;
const CHOICES: FieldType[] = ['dropdown', 'radio', 'checkbox'];
const TYPED: FieldType[] = ['text', 'textarea', 'number', 'email'];

export interface FormField {
	label: string;
	type: FieldType;
	required: boolean;
	placeholder: string;
	/** The choices of a dropdown list, radio buttons or checkboxes. */
	options: string[];
	/** Whether the answer is a list: checkboxes, or a dropdown list with "Multiple Choice". */
	multiple: boolean;
}

/** The node's parameters for the form, shown with Response Type "Custom Form". */
export function formProperties(show: IDataObject): INodeProperties[] {
	const custom = { ...show, responseType: ['customForm'] };
	return [
		{
			displayName: 'Define Form',
			name: 'defineForm',
			type: 'options',
			default: 'fields',
			options: [
				{ name: 'Using Fields Below', value: 'fields' },
				{ name: 'Using JSON', value: 'json' },
			],
			description: 'Whether to list the fields here, or give them as JSON (from an expression)',
			displayOptions: { show: custom },
		},
		{
			displayName: 'Form Fields (JSON)',
			name: 'jsonOutput',
			type: 'json',
			typeOptions: { rows: 5 },
			default:
				'[\n  {\n    "fieldLabel": "Name",\n    "fieldType": "text",\n    "requiredField": true\n  },\n  {\n    "fieldLabel": "Team",\n    "fieldType": "dropdown",\n    "fieldOptions": { "values": [{ "option": "Sales" }, { "option": "Support" }] }\n  }\n]',
			description: `An array of fields, each with "fieldLabel", "fieldType" (${Object.keys(FIELD_TYPES).join(', ')}), and optionally "requiredField", "placeholder", "multiselect" and "fieldOptions": {"values": [{"option": "…"}]}`,
			displayOptions: { show: { ...custom, defineForm: ['json'] } },
		},
		{
			displayName: 'Form Fields',
			name: 'formFields',
			type: 'fixedCollection',
			placeholder: 'Add Form Field',
			default: {},
			typeOptions: { multipleValues: true, sortable: true },
			description: 'The fields the recipient fills in; each label is the name of its answer',
			displayOptions: { show: { ...custom, defineForm: ['fields'] } },
			options: [
				{
					displayName: 'Values',
					name: 'values',
					values: [
						{
							displayName: 'Element Type',
							name: 'fieldType',
							type: 'options',
							default: 'text',
							options: Object.entries(FIELD_TYPES).map(([value, name]) => ({ name, value })),
							description: 'The kind of field',
						},
						{
							displayName: 'Field Label',
							name: 'fieldLabel',
							type: 'string',
							default: '',
							required: true,
							placeholder: 'e.g. What is your name?',
							description: 'Shown above the field; the answer comes out under this name',
						},
						{
							displayName: 'Field Options',
							name: 'fieldOptions',
							type: 'fixedCollection',
							placeholder: 'Add Choice',
							default: { values: [{ option: '' }] },
							typeOptions: { multipleValues: true, sortable: true },
							description: 'What the recipient chooses from',
							displayOptions: { show: { fieldType: CHOICES } },
							options: [
								{
									displayName: 'Values',
									name: 'values',
									values: [
										{
											displayName: 'Option',
											name: 'option',
											type: 'string',
											default: '',
											description: 'One choice, shown and given as written',
										},
									],
								},
							],
						},
						{
							displayName: 'Multiple Choice',
							name: 'multiselect',
							type: 'boolean',
							default: false,
							description:
								'Whether the recipient may choose more than one (the answer is then a list)',
							displayOptions: { show: { fieldType: ['dropdown'] } },
						},
						{
							displayName: 'Placeholder',
							name: 'placeholder',
							type: 'string',
							default: '',
							description: 'Sample text shown inside the empty field',
							displayOptions: { show: { fieldType: TYPED } },
						},
						{
							displayName: 'Required Field',
							name: 'requiredField',
							type: 'boolean',
							default: false,
							description: 'Whether the form is only accepted with this field answered',
						},
					],
				},
			],
		},
	];
}

/** Why a form definition cannot be shown; the fix goes with it. */
export class FormDefinitionError extends Error {
	constructor(
		message: string,
		readonly fix: string,
	) {
		super(message);
	}
}

const fail = (message: string, fix: string): never => {
	throw new FormDefinitionError(message, fix);
};

/**
 * The form's fields from the node's parameters ("Form Fields", or the JSON, as "Define Form" says),
 * checked so that a form that cannot be shown or answered is refused before the mail goes out.
 * `parameter` reads one of the node's parameters, in the execution or in the webhook.
 */
export function formFields(parameter: (name: string, fallback: unknown) => unknown): FormField[] {
	let list =
		parameter('defineForm', 'fields') === 'json'
			? parameter('jsonOutput', '[]')
			: parameter('formFields.values', []);
	if (typeof list === 'string') {
		try {
			list = jsonParse(list);
		} catch {
			list = undefined;
		}
	}
	const fixJson =
		'Give "Form Fields (JSON)" as an array of objects such as [{"fieldLabel": "Name", "fieldType": "text"}].';
	if (!Array.isArray(list)) fail('"Form Fields (JSON)" is not a JSON array of fields', fixJson);
	const fields = (list as unknown[]).map((raw, index): FormField => {
		if (!raw || typeof raw !== 'object' || Array.isArray(raw))
			fail(`Field ${index + 1} of the form is not an object`, fixJson);
		const field = raw as IDataObject;
		const label = typeof field.fieldLabel === 'string' ? field.fieldLabel.trim() : '';
		if (!label)
			fail(`Field ${index + 1} of the form has no label`, 'Give every field a "Field Label".');
		const type = String(field.fieldType ?? 'text') as FieldType;
		if (!Object.hasOwn(FIELD_TYPES, type))
			fail(
				`The form field "${label}" has the type "${type}", which this form does not offer`,
				`Use one of: ${Object.keys(FIELD_TYPES).join(', ')}.`,
			);
		const values = (field.fieldOptions as IDataObject | undefined)?.values;
		const options = CHOICES.includes(type)
			? (Array.isArray(values) ? values : []).map((value) =>
					String((value as IDataObject | null)?.option ?? '').trim(),
				)
			: [];
		if (CHOICES.includes(type) && (!options.length || options.some((option) => !option)))
			fail(`The form field "${label}" has an empty choice, or none`, 'Give it its choices.');
		if (new Set(options).size !== options.length)
			fail(`The form field "${label}" has the same choice twice`, 'Give each choice once.');
		return {
			label,
			type,
			required: field.requiredField === true,
			placeholder: typeof field.placeholder === 'string' ? field.placeholder : '',
			options,
			multiple: type === 'checkbox' || (type === 'dropdown' && field.multiselect === true),
		};
	});
	if (!fields.length) fail('The form has no fields', 'Add a field under "Form Fields".');
	const labels = fields.map((field) => field.label);
	const twice = labels.find((label, index) => labels.indexOf(label) !== index);
	if (twice !== undefined)
		fail(`Two form fields have the label "${twice}"`, 'Give each field its own label.');
	if (labels.includes('respondedAt'))
		fail(
			'A form field has the label "respondedAt", the name of the time of the answer',
			'Give the field another label.',
		);
	return fields;
}

/** What the recipient posted for each field (kept to show the form again after a wrong answer). */
export type Posted = string[][];

/** The form's fields as HTML, filled with what was posted. */
export function formHtml(fields: FormField[], posted: Posted = []): string {
	return fields
		.map((field, index) => {
			const id = `field-${index}`;
			const given = posted[index] ?? [];
			const label = escapeHtml(field.label) + (field.required ? ' *' : '');
			const required = field.required ? ' required' : '';
			const chosen = (option: string, mark: string) => (given.includes(option) ? mark : '');
			const text = (type: string) =>
				`<label for="${id}">${label}</label><input type="${type}" id="${id}" name="${id}"${type === 'number' ? ' step="any"' : ''} maxlength="${MAX_ANSWER}" placeholder="${escapeHtml(field.placeholder)}" value="${escapeHtml(given[0] ?? '')}"${required}>`;
			switch (field.type) {
				case 'textarea':
					return `<label for="${id}">${label}</label><textarea id="${id}" name="${id}" rows="4" maxlength="${MAX_ANSWER}" placeholder="${escapeHtml(field.placeholder)}"${required}>${escapeHtml(given[0] ?? '')}</textarea>`;
				case 'dropdown': {
					const options = field.options.map(
						(option) =>
							`<option value="${escapeHtml(option)}"${chosen(option, ' selected')}>${escapeHtml(option)}</option>`,
					);
					if (!field.multiple) options.unshift('<option value="">Choose…</option>');
					return `<label for="${id}">${label}</label><select id="${id}" name="${id}"${field.multiple ? ' multiple' : ''}${required}>${options.join('')}</select>`;
				}
				case 'radio':
				case 'checkbox':
					return `<fieldset><legend>${label}</legend>${field.options
						.map(
							(option, n) =>
								`<label class="choice"><input type="${field.type}" name="${id}" id="${id}-${n}" value="${escapeHtml(option)}"${chosen(option, ' checked')}${field.type === 'radio' ? required : ''}> ${escapeHtml(option)}</label>`,
						)
						.join('')}</fieldset>`;
				default:
					return text(field.type);
			}
		})
		.join('\n');
}

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const isDate = (text: string) => {
	const match = DATE.exec(text);
	if (!match) return false;
	const date = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3]));
	return date.toISOString().slice(0, 10) === text;
};

/**
 * The answer from the form's POST body: `{ answer }` with one value per field label, or `{ error }`
 * naming the field and what to change (nothing is recorded then). An unanswered optional field is
 * null; checkboxes and a multiple-choice list give a list; a number field a number.
 */
export function readForm(
	fields: FormField[],
	body: IDataObject,
): { answer: IDataObject; posted: Posted } | { error: string; posted: Posted } {
	const posted: Posted = fields.map((_, index) => {
		const raw = body[`field-${index}`];
		return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String);
	});
	const entries: Array<[string, unknown]> = [];
	for (const [index, field] of fields.entries()) {
		const given = posted[index];
		const named = `"${field.label}"`;
		const error = (what: string) => ({ error: `${named} ${what}`, posted });
		if (given.some((value) => value.length > MAX_ANSWER))
			return error(`is longer than ${MAX_ANSWER.toLocaleString('en')} characters: shorten it.`);
		if (field.multiple) {
			const chosen = given.filter((value) => value !== '');
			if (chosen.some((value) => !field.options.includes(value)))
				return error('has an answer that is not one of its choices: choose from the list.');
			if (field.required && !chosen.length) return error('needs at least one choice.');
			entries.push([field.label, [...new Set(chosen)]]);
			continue;
		}
		if (given.length > 1) return error('was answered more than once: answer it once.');
		const value = field.type === 'textarea' ? (given[0] ?? '') : (given[0] ?? '').trim();
		if (!value.trim()) {
			if (field.required) return error('needs an answer.');
			entries.push([field.label, null]);
			continue;
		}
		if (field.type === 'number' && !Number.isFinite(Number(value))) return error('needs a number.');
		if (field.type === 'email' && !EMAIL.test(value))
			return error('needs an email address, such as name@contoso.com.');
		if (field.type === 'date' && !isDate(value)) return error('needs a date, as YYYY-MM-DD.');
		if (CHOICES.includes(field.type) && !field.options.includes(value))
			return error('has an answer that is not one of its choices: choose from the list.');
		entries.push([field.label, field.type === 'number' ? Number(value) : value]);
	}
	// fromEntries makes every label an own property, "__proto__" included.
	return { answer: Object.fromEntries(entries) as IDataObject, posted };
}
