/**
 * Runs our nodes through n8n-core's real contexts (PollContext, ExecuteContext): n8n's parameter
 * resolution, credential loading and OAuth2 refresh helper. Only the credentials database is
 * replaced, by an in-memory store whose writes tests can inspect.
 */
import { ExecuteContext, PollContext } from 'n8n-core';
import {
	Workflow,
	type ICredentialDataDecryptedObject,
	type ICredentialType,
	type IDataObject,
	type INode,
	type INodeCredentialsDetails,
	type INodeExecutionData,
	type INodeParameters,
	type INodeType,
	type INodeTypes,
	type IRunExecutionData,
	type IWorkflowExecuteAdditionalData,
	type WorkflowExecuteMode,
} from 'n8n-workflow';

import { M365MailAppOnlyApi } from '../../credentials/M365MailAppOnlyApi.credentials';
import { M365MailOAuth2Api } from '../../credentials/M365MailOAuth2Api.credentials';
import { M365Mail } from '../../nodes/M365Mail/M365Mail.node.ts';

const CREDENTIAL_TYPES: Record<string, ICredentialType> = {
	m365MailOAuth2Api: new M365MailOAuth2Api(),
	m365MailAppOnlyApi: new M365MailAppOnlyApi(),
};

const NODE_TYPES: Record<string, INodeType> = {
	'n8n-nodes-m365-mail.m365Mail': new M365Mail(),
};

export const nodeTypes: INodeTypes = {
	getByName: (type: string) => NODE_TYPES[type],
	getByNameAndVersion: (type: string) => NODE_TYPES[type],
	getKnownTypes: () => ({}),
} as unknown as INodeTypes;

/** The credentials "database": what n8n would persist, including refreshed OAuth token data. */
export class CredentialStore {
	readonly data = new Map<string, ICredentialDataDecryptedObject>();
	readonly oauthWrites: IDataObject[] = [];

	set(id: string, value: ICredentialDataDecryptedObject): void {
		this.data.set(id, structuredClone(value));
	}

	get(id: string): ICredentialDataDecryptedObject {
		const value = this.data.get(id);
		if (!value) throw new Error(`no credential ${id}`);
		return structuredClone(value);
	}
}

/** Applies defaults and resolves the credential's expressions over `$self`, as n8n's helper does. */
function resolveCredential(
	workflow: Workflow,
	node: INode,
	type: string,
	stored: ICredentialDataDecryptedObject,
) {
	const defaults: IDataObject = {};
	for (const property of CREDENTIAL_TYPES[type].properties) {
		if (property.type !== 'notice')
			defaults[property.name] = property.default as IDataObject[string];
	}
	const merged = { ...defaults, ...stored };
	return workflow.expression.getComplexParameterValue(
		node,
		merged as INodeParameters,
		'internal',
		{},
		undefined,
		undefined,
		merged,
	) as ICredentialDataDecryptedObject;
}

export interface HarnessNode {
	parameters: INodeParameters;
	credentials: Record<string, string>;
}

function buildNode(spec: HarnessNode): INode {
	return {
		id: 'node-1',
		name: 'Microsoft 365 Mail',
		type: 'n8n-nodes-m365-mail.m365Mail',
		typeVersion: 1,
		position: [0, 0],
		parameters: spec.parameters,
		credentials: Object.fromEntries(
			Object.entries(spec.credentials).map(([type, id]) => [
				type,
				{ id, name: id } as INodeCredentialsDetails,
			]),
		),
	};
}

function buildAdditionalData(
	workflow: Workflow,
	node: INode,
	store: CredentialStore,
): IWorkflowExecuteAdditionalData {
	const credentialsHelper = {
		getParentTypes: (name: string) => (name === 'm365MailOAuth2Api' ? ['oAuth2Api'] : []),
		isCredentialUsableByNode: () => true,
		authenticate: async (_c: unknown, _t: string, options: unknown) => options,
		preAuthentication: async () => undefined,
		runPreAuthentication: async () => undefined,
		getCredentials: async () => {
			throw new Error('not used');
		},
		getDecrypted: async (_a: unknown, details: INodeCredentialsDetails, type: string) =>
			resolveCredential(workflow, node, type, store.get(details.id!)),
		updateCredentials: async (
			details: INodeCredentialsDetails,
			_type: string,
			data: ICredentialDataDecryptedObject,
		) => store.set(details.id!, data),
		updateCredentialsOauthTokenData: async (
			details: INodeCredentialsDetails,
			_type: string,
			data: ICredentialDataDecryptedObject,
		) => {
			const current = store.get(details.id!);
			store.oauthWrites.push(structuredClone(data.oauthTokenData as IDataObject));
			store.set(details.id!, { ...current, oauthTokenData: data.oauthTokenData });
		},
		getCredentialsProperties: (type: string) => CREDENTIAL_TYPES[type].properties,
	};
	return {
		credentialsHelper,
		executionId: 'test-execution',
		restApiUrl: 'http://127.0.0.1/rest',
		instanceBaseUrl: 'http://127.0.0.1/',
		formWaitingBaseUrl: 'http://127.0.0.1/form-waiting',
		webhookBaseUrl: 'http://127.0.0.1/webhook',
		webhookWaitingBaseUrl: 'http://127.0.0.1/webhook-waiting',
		webhookTestBaseUrl: 'http://127.0.0.1/webhook-test',
		variables: {},
		currentNodeParameters: undefined,
		executeWorkflow: async () => {
			throw new Error('not used');
		},
		getRunExecutionData: async () => undefined,
		logAiEvent: () => undefined,
		startRunnerTask: async () => {
			throw new Error('not used');
		},
	} as unknown as IWorkflowExecuteAdditionalData;
}

function buildWorkflow(node: INode, staticData: IDataObject = {}): Workflow {
	return new Workflow({
		id: 'wf-1',
		nodes: [node],
		connections: {},
		active: false,
		nodeTypes,
		staticData,
		settings: { executionOrder: 'v1' },
	});
}

/** A real PollContext for the node: what n8n hands a polling trigger. */
export function createPollContext(
	spec: HarnessNode,
	store: CredentialStore,
	options: { mode?: WorkflowExecuteMode; staticData?: IDataObject } = {},
): PollContext {
	const node = buildNode(spec);
	const workflow = buildWorkflow(node, options.staticData);
	const mode = options.mode ?? 'trigger';
	return new PollContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		mode,
		mode === 'manual' ? 'manual' : 'activate',
	);
}

/** Runs the action node through a real ExecuteContext and returns its output. */
export async function runActionNode(
	spec: HarnessNode,
	store: CredentialStore,
	items: INodeExecutionData[] = [{ json: {} }],
): Promise<INodeExecutionData[][]> {
	const node = buildNode(spec);
	const workflow = buildWorkflow(node);
	const runExecutionData = {
		resultData: { runData: {} },
		executionData: {
			contextData: {},
			nodeExecutionStack: [],
			waitingExecution: {},
			waitingExecutionSource: {},
			metadata: {},
		},
	} as unknown as IRunExecutionData;
	const context = new ExecuteContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		'manual',
		runExecutionData,
		0,
		items,
		{ main: [items] },
		{ node, data: { main: [items] }, source: null },
		[],
	);
	return (await NODE_TYPES['n8n-nodes-m365-mail.m365Mail'].execute!.call(
		context,
	)) as INodeExecutionData[][];
}
