/**
 * Every parameter a user sees in the editor has a help text: both nodes and both credentials, nested
 * collection and fixed-collection fields included (notices and hidden fields excepted).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { INodeProperties, INodePropertyCollection, INodePropertyOptions } from 'n8n-workflow';

import { M365MailAppOnlyApi } from '../../credentials/M365MailAppOnlyApi.credentials';
import { M365MailOAuth2Api } from '../../credentials/M365MailOAuth2Api.credentials';
import { M365Mail } from '../../nodes/M365Mail/M365Mail.node.ts';
import { M365MailTrigger } from '../../nodes/M365Mail/M365MailTrigger.node.ts';

type Option = INodeProperties | INodePropertyCollection | INodePropertyOptions;

/** Paths of visible parameters without a description. */
function missing(properties: INodeProperties[], path: string): string[] {
	const found: string[] = [];
	for (const property of properties) {
		const here = `${path}.${property.name}`;
		if (!['notice', 'hidden', 'callout'].includes(property.type) && !property.description?.trim()) {
			found.push(here);
		}
		for (const option of (property.options ?? []) as Option[]) {
			if ('values' in option) found.push(...missing(option.values, `${here}.${option.name}`));
			else if ('type' in option) found.push(...missing([option], here));
		}
	}
	return found;
}

describe('help texts', () => {
	const sources: Array<[string, INodeProperties[]]> = [
		['Microsoft 365 Mail', new M365Mail().description.properties],
		['Microsoft 365 Mail Trigger', new M365MailTrigger().description.properties],
		['Microsoft 365 Mail OAuth2 API', new M365MailOAuth2Api().properties],
		['Microsoft 365 Mail App-Only API', new M365MailAppOnlyApi().properties],
	];
	for (const [name, properties] of sources) {
		it(`every parameter of ${name} has a description`, () => {
			assert.ok(properties.length > 3);
			assert.deepEqual(missing(properties, name), []);
		});
	}
});

describe('trigger subtitle', () => {
	it('names the folder whether the canvas passes the locator object or its value', async () => {
		const { Workflow } = await import('n8n-workflow');
		const { M365MailTrigger } = await import('../../nodes/M365Mail/M365MailTrigger.node.ts');
		const subtitle = String(new M365MailTrigger().description.subtitle);
		const evaluate = (folder: unknown) => {
			const node = {
				id: '1',
				name: 'T',
				type: 't',
				typeVersion: 1,
				position: [0, 0] as [number, number],
				parameters: { folder } as never,
			};
			const trigger = new M365MailTrigger();
			const nodeTypes = {
				getByName: () => trigger,
				getByNameAndVersion: () => trigger,
				getKnownTypes: () => ({}),
			} as never;
			const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
			return workflow.expression.getComplexParameterValue(node, subtitle, 'internal', {});
		};
		assert.equal(evaluate({ __rl: true, mode: 'path', value: 'Inbox/Demo' }), 'Folder: Inbox/Demo');
		assert.notEqual(evaluate({ __rl: true, mode: 'list', value: 'Inbox' }), 'Folder: undefined');
		assert.equal(evaluate('Inbox/Demo'), 'Folder: Inbox/Demo');
	});
});
