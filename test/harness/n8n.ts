/**
 * Runs our nodes through n8n-core's real contexts (PollContext, ExecuteContext): n8n's parameter
 * resolution, credential loading and OAuth2 refresh helper. Only the credentials database is
 * replaced, by an in-memory store whose writes tests can inspect.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import {
	BinaryDataService,
	ExecuteContext,
	LoadOptionsContext,
	PollContext,
	TriggerContext,
} from 'n8n-core';
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
	type ITriggerFunctions,
	type IWorkflowExecuteAdditionalData,
	type WorkflowExecuteMode,
} from 'n8n-workflow';

import { M365MailAppOnlyApi } from '../../credentials/M365MailAppOnlyApi.credentials';
import { M365MailOAuth2Api } from '../../credentials/M365MailOAuth2Api.credentials';
import { M365Mail } from '../../nodes/M365Mail/M365Mail.node.ts';
import { M365MailInstantTrigger } from '../../nodes/M365Mail/M365MailInstantTrigger.node.ts';
import { M365MailTrigger } from '../../nodes/M365Mail/M365MailTrigger.node.ts';

const CREDENTIAL_TYPES: Record<string, ICredentialType> = {
	m365MailOAuth2Api: new M365MailOAuth2Api(),
	m365MailAppOnlyApi: new M365MailAppOnlyApi(),
};

/**
 * M365_HARNESS_BUILT=1: the node classes come from the build in dist/ (what n8n loads from the
 * package), not from the TypeScript sources compiled on the fly. For the benchmarks, which time the
 * code n8n runs; the tests read the sources.
 */
function nodeClasses(): {
	M365Mail: new () => INodeType;
	M365MailTrigger: new () => INodeType;
	M365MailInstantTrigger: new () => INodeType;
} {
	if (!process.env.M365_HARNESS_BUILT) return { M365Mail, M365MailTrigger, M365MailInstantTrigger };
	const dist = path.resolve(__dirname, '../../dist/nodes/M365Mail');
	const load = (name: string) => {
		const file = path.join(dist, `${name}.node.js`);
		if (!existsSync(file))
			throw new Error(`M365_HARNESS_BUILT: ${file} is missing; run npm run build`);
		return (createRequire(file)(file) as Record<string, new () => INodeType>)[name];
	};
	return {
		M365Mail: load('M365Mail'),
		M365MailTrigger: load('M365MailTrigger'),
		M365MailInstantTrigger: load('M365MailInstantTrigger'),
	};
}

const NODE_CLASSES = nodeClasses();

const NODE_TYPES: Record<string, INodeType> = {
	'n8n-nodes-m365-mail.m365Mail': new NODE_CLASSES.M365Mail(),
	'n8n-nodes-m365-mail.m365MailTrigger': new NODE_CLASSES.M365MailTrigger(),
	'n8n-nodes-m365-mail.m365MailInstantTrigger': new NODE_CLASSES.M365MailInstantTrigger(),
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
	/** Defaults to the action node. */
	type?: 'm365Mail' | 'm365MailTrigger' | 'm365MailInstantTrigger';
	/** n8n's "On Error" setting, e.g. continueRegularOutput (continue on fail). */
	onError?: INode['onError'];
}

function buildNode(spec: HarnessNode): INode {
	return {
		id: 'node-1',
		name: spec.type?.endsWith('Trigger') ? 'Microsoft 365 Mail Trigger' : 'Microsoft 365 Mail',
		type: `n8n-nodes-m365-mail.${spec.type ?? 'm365Mail'}`,
		typeVersion: 1,
		position: [0, 0],
		parameters: spec.parameters,
		onError: spec.onError,
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

/**
 * URLs the nodes requested through n8n's `helpers.httpRequestWithAuthentication`, in order (tests
 * clear it): proof that delegated Graph requests take n8n's authenticated path.
 */
export const authenticatedRequests: string[] = [];

function recordAuthenticatedRequests(
	context: PollContext | ExecuteContext | LoadOptionsContext,
): void {
	const helpers = context.helpers as unknown as Record<string, unknown>;
	const original = helpers.httpRequestWithAuthentication as (...args: unknown[]) => unknown;
	helpers.httpRequestWithAuthentication = function (this: unknown, ...args: unknown[]) {
		const options = args[1] as { method?: string; url?: string };
		authenticatedRequests.push(`${options.method ?? 'GET'} ${options.url}`);
		return original.apply(this, args);
	};
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
	const node = buildNode({ type: 'm365MailTrigger', ...spec });
	const workflow = buildWorkflow(node, options.staticData);
	const mode = options.mode ?? 'trigger';
	const context = new PollContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		mode,
		mode === 'manual' ? 'manual' : 'activate',
	);
	recordAuthenticatedRequests(context);
	return context;
}

/**
 * A real TriggerContext for the instant trigger, with n8n's three callbacks: `emit` (whose done
 * promise n8n resolves with the finished run), `emitError` and `saveFailedExecution`.
 */
export function createTriggerContext(
	spec: HarnessNode,
	store: CredentialStore,
	callbacks: {
		emit: ITriggerFunctions['emit'];
		emitError?: (error: Error) => void;
		saveFailedExecution?: (error: Error) => void;
	},
	options: { mode?: WorkflowExecuteMode; staticData?: IDataObject } = {},
): TriggerContext {
	const node = buildNode({ type: 'm365MailInstantTrigger', ...spec });
	const workflow = buildWorkflow(node, options.staticData);
	const mode = options.mode ?? 'trigger';
	return new TriggerContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		mode,
		mode === 'manual' ? 'manual' : 'activate',
		callbacks.emit,
		callbacks.emitError ??
			((error) => {
				throw error;
			}),
		(callbacks.saveFailedExecution ?? (() => undefined)) as never,
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
	recordAuthenticatedRequests(context);
	return (await NODE_TYPES['n8n-nodes-m365-mail.m365Mail'].execute!.call(
		context,
	)) as INodeExecutionData[][];
}

/**
 * The folder resource locator's list, as the editor asks for it: the node's `searchFolders` method
 * through a real LoadOptionsContext (what n8n hands `methods.listSearch`).
 */
export async function searchFolderList(
	spec: HarnessNode,
	store: CredentialStore,
	filter?: string,
): Promise<Array<{ name: string; value: string }>> {
	const node = buildNode(spec);
	const workflow = buildWorkflow(node);
	const context = new LoadOptionsContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		'parameters.folder',
	);
	recordAuthenticatedRequests(context);
	const type = NODE_TYPES[node.type];
	const result = await type.methods!.listSearch!.searchFolders.call(context, filter);
	return result.results.map((r) => ({ name: r.name, value: String(r.value) }));
}

/**
 * n8n 2.41's poll executor, as read in its source (n8n-core's PollTriggerExecutor and
 * ActiveWorkflowTriggers, the cli's TriggerExecutionContextFactory and WorkflowStaticDataService):
 *
 * - activation builds ONE Workflow from the database's static data (wrapped by ObservableObject) and
 *   polls at once; after activation n8n saves the static data if `__dataChanged`;
 * - every later poll of that activation runs on the same Workflow (nothing is copied back);
 * - a poll that returns items emits: n8n saves the static data then, and only if `__dataChanged`;
 * - a poll that returns null or throws saves nothing (its changes live in memory only);
 * - polls are not serialised; a restart, re-activation or re-publish builds a new Workflow from the
 *   database; a manual run ("Fetch Test Event") gets its own Workflow and never saves.
 *
 * The `staticData` object the tests pass is the database row; `restart` drops the live Workflow.
 */
interface Activation {
	spec: string;
	workflow: Workflow;
	context: PollContext;
}
const activations = new WeakMap<IDataObject, Activation>();
const NODE_KEY = 'node:Microsoft 365 Mail Trigger';

/** What n8n writes to its database: the static data as JSON, when a watched object changed. */
function saveStaticData(workflow: Workflow, database: IDataObject): void {
	const data = workflow.staticData as IDataObject & { __dataChanged?: boolean };
	if (data.__dataChanged !== true) return;
	const saved = JSON.parse(JSON.stringify(data)) as IDataObject;
	for (const key of Object.keys(database)) delete database[key];
	Object.assign(database, (saved[NODE_KEY] as IDataObject) ?? {});
	data.__dataChanged = false;
}

function activate(spec: HarnessNode, store: CredentialStore, database: IDataObject): Activation {
	const fromDb = JSON.parse(JSON.stringify(database)) as IDataObject;
	const context = createPollContext(spec, store, {
		staticData: Object.keys(fromDb).length ? { [NODE_KEY]: fromDb } : {},
	});
	const activation = {
		spec: JSON.stringify(spec),
		workflow: (context as unknown as { workflow: Workflow }).workflow,
		context,
	};
	activations.set(database, activation);
	return activation;
}

/** n8n restarts (or the workflow is re-activated or re-published): the next poll starts from the database. */
export function restartN8n(database: IDataObject): void {
	activations.delete(database);
}

/**
 * Runs one poll of the trigger as n8n 2.41 does (see above). The first call for a `database` object,
 * or one with other parameters (a re-publish), activates; later calls are scheduled polls of the
 * same activation. Errors are thrown to the test (n8n records them as failed executions).
 */
export async function pollTrigger(
	spec: HarnessNode,
	store: CredentialStore,
	database: IDataObject,
	mode: WorkflowExecuteMode = 'trigger',
): Promise<INodeExecutionData[]> {
	const node = NODE_TYPES['n8n-nodes-m365-mail.m365MailTrigger'];
	if (mode === 'manual') {
		const fromDb = JSON.parse(JSON.stringify(database)) as IDataObject;
		const context = createPollContext(spec, store, { mode, staticData: { [NODE_KEY]: fromDb } });
		return (await node.poll!.call(context))?.[0] ?? [];
	}
	let activation = activations.get(database);
	const activating = !activation || activation.spec !== JSON.stringify(spec);
	if (activating) activation = activate(spec, store, database);
	const { workflow, context } = activation!;
	let result: INodeExecutionData[][] | null;
	try {
		result = await node.poll!.call(context);
	} catch (error) {
		// A failed activation leaves the workflow inactive: the next call activates again.
		if (activating) activations.delete(database);
		throw error;
	}
	if (result !== null || activating) saveStaticData(workflow, database);
	return result?.[0] ?? [];
}

/**
 * A poll whose result n8n discards: the workflow was deactivated or re-published while it ran
 * ("Discarding in-flight poll result for superseded workflow"). Nothing is saved; the next poll
 * starts from the database.
 */
export async function discardingPoll(
	spec: HarnessNode,
	store: CredentialStore,
	database: IDataObject,
): Promise<INodeExecutionData[]> {
	const activation = activations.get(database) ?? activate(spec, store, database);
	activations.delete(database);
	const result = await NODE_TYPES['n8n-nodes-m365-mail.m365MailTrigger'].poll!.call(
		activation.context,
	);
	return result?.[0] ?? [];
}

/** What n8n keeps for a polling trigger under its durable scheduler with durable cursors. */
export interface DurableDatabase {
	/** The workflow's static data outside the node's (workflow_entity.staticData). */
	global: IDataObject;
	/** The node's cursor row (poller_state), created empty by the first poll. */
	cursor?: IDataObject;
}

/**
 * One poll as n8n 2.41 runs it under `N8N_SCHEDULER_ENABLED`, `N8N_SCHEDULER_POLL_TRIGGERS_ENABLED`
 * and `N8N_POLLER_DURABLE_CURSORS_ENABLED` (read in poll-cursor.service.js, poll-trigger-executor.js,
 * poll-trigger-task-handler.js and trigger-execution-context.factory.js): every poll builds the
 * Workflow from the database; the node's static data is a staged copy of its cursor row, committed
 * with the execution of an emit or after an empty scheduled poll, never after the poll at activation
 * (`testingTrigger`); the workflow's other static data is written after the activation and at an
 * emit when n8n's change tracking saw a change. The real-n8n test is test/e2e/queue.test.ts.
 */
export async function durablePoll(
	spec: HarnessNode,
	store: CredentialStore,
	database: DurableDatabase,
	activating: boolean,
): Promise<INodeExecutionData[]> {
	const node = buildNode({ type: 'm365MailTrigger', ...spec });
	const workflow = buildWorkflow(node, JSON.parse(JSON.stringify(database.global)) as IDataObject);
	database.cursor ??= {};
	const staged = JSON.parse(JSON.stringify(database.cursor)) as IDataObject;
	const context = new PollContext(
		workflow,
		node,
		buildAdditionalData(workflow, node, store),
		'trigger',
		activating ? 'activate' : 'update',
		undefined,
		undefined,
		undefined,
		undefined,
		() => staged,
		() => 36_000,
	);
	const result = await NODE_TYPES['n8n-nodes-m365-mail.m365MailTrigger'].poll!.call(context);
	if (result !== null || !activating) database.cursor = JSON.parse(JSON.stringify(staged));
	const data = workflow.staticData as IDataObject & { __dataChanged?: boolean };
	if ((result !== null || activating) && data.__dataChanged === true) {
		const saved = JSON.parse(JSON.stringify(data)) as IDataObject;
		for (const key of Object.keys(saved)) if (key.startsWith('node:')) delete saved[key];
		database.global = saved;
	}
	return result?.[0] ?? [];
}

/**
 * A trigger node watching `folder` with the given credential ("app" = the app-only one, any other
 * name = a delegated credential in the store) over `protocol`.
 */
export function triggerNode(
	folder: string,
	parameters: INodeParameters,
	credential: string,
	protocol: 'imap' | 'graph',
): HarnessNode {
	return {
		parameters: {
			authentication: credential === 'app' ? 'appOnly' : 'delegated',
			protocol,
			mailbox: '',
			folder: { __rl: true, mode: 'path', value: folder },
			output: 'simple',
			afterEmit: 'none',
			startFrom: 'now',
			maxMessages: 50,
			...parameters,
		},
		credentials:
			credential === 'app' ? { m365MailAppOnlyApi: 'app' } : { m365MailOAuth2Api: credential },
	};
}

/**
 * Binary data kept on disk, as a regular n8n 2.41 process keeps it: at start n8n calls
 * `BinaryDataService.init()` (`initBinaryDataService` in `commands/base-command.js`), whose default
 * mode is "filesystem" (queue mode: "database"), so `prepareBinaryData` writes the bytes to
 * `<user folder>/.n8n/storage` and the item holds only an id. Without that call n8n-core keeps the
 * bytes in the item as a base64 string (its in-memory mode, which n8n 2.41 no longer offers by
 * default), which is what the tests read. The benchmarks call this so that what a poll holds is what
 * it holds in n8n. Call it before the first context is built: n8n's settings read
 * `N8N_USER_FOLDER` once.
 */
export async function storeBinaryDataOnDisk(userFolder: string): Promise<void> {
	process.env.N8N_USER_FOLDER = userFolder;
	// n8n-core's own copy of the container (it has its own @n8n/di under node_modules).
	const { Container } = createRequire(require.resolve('n8n-core'))('@n8n/di') as {
		Container: { get<T>(type: new (...args: never[]) => T): T };
	};
	await Container.get(BinaryDataService).init();
}
