/**
 * End to end in real n8n 2.x: our package installed as a community package, credentials created and
 * tested, the IMAP trigger activated and producing executions, the action node sending, flagging and
 * moving. Needs scripts/e2e-setup.sh (the README's test command runs it).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { GRAPH_SCOPES, graphDeliver, graphFolder, graphList } from '../harness/graph';
import { appendMails, freshFolder, listFolder, testImap } from '../harness/mail';
import {
	appOnlyCredential,
	delegatedCredential,
	IMAP_SCOPES,
	expiredCopy,
	signIn,
	stackInfo,
} from '../harness/stack';
import {
	actionWorkflowNode,
	flagThenMove,
	freshUserFolder,
	manualTriggerNode,
	N8nInstance,
	runData,
	triggerWorkflowNode,
} from './n8n';
import { chromiumInstalled, launchBrowser } from './browser';
import { FakeChatModel } from './fake-llm';
import { mailTo, post } from './responses';

const PKG = 'n8n-nodes-m365-mail';
const DELEGATED = { id: 'M365DelegatedE2E', name: 'Alice (IMAP + SMTP)' };
const DELEGATED_GRAPH = { id: 'M365GraphE2E0001', name: 'Alice (Microsoft Graph)' };
const EXPIRED_GRAPH = { id: 'M365GraphE2E0002', name: 'Alice (Graph, token expired)' };
const FAKE_OPENAI = { id: 'FakeOpenAiE2E001', name: 'Local scripted model' };

type Json = Record<string, unknown>;

let n8n: N8nInstance;
const model = new FakeChatModel();
let userFolder = '';
/** The token data the expired credential was imported with. */
let expiredTokens: Json = {};

const credentialRef = { m365MailOAuth2Api: DELEGATED };

describe('real n8n with the package installed as a community package', () => {
	const stack = stackInfo();
	let appOnlyId = '';

	before(async () => {
		userFolder = freshUserFolder('e2e-n8n');
		n8n = new N8nInstance({
			userFolder,
			caCertPath: stack.caCertPath,
			logFile: join(userFolder, 'n8n.log'),
			// Debug: the loader says whether it lazy-loads the package.
			logLevel: 'debug',
		});
		await n8n.start();
		await n8n.login();
		await model.start();
		const tokens = await signIn('alice@example.test', IMAP_SCOPES);
		const file = join(userFolder, 'credentials.json');
		const graphTokens = await signIn('alice@example.test', GRAPH_SCOPES);
		// A second Graph sign-in whose access token has expired at Graph (n8n's stored expiry is not
		// consulted by n8n before a request: only Graph's 401 tells).
		const signedIn = await signIn('alice@example.test', GRAPH_SCOPES);
		expiredTokens = {
			...signedIn,
			access_token: await expiredCopy(signedIn.access_token as string),
		};
		writeFileSync(
			file,
			JSON.stringify([
				{ ...DELEGATED, type: 'm365MailOAuth2Api', data: delegatedCredential(tokens) },
				{
					...DELEGATED_GRAPH,
					type: 'm365MailOAuth2Api',
					data: delegatedCredential(graphTokens, { access: 'graph' }),
				},
				{
					...EXPIRED_GRAPH,
					type: 'm365MailOAuth2Api',
					data: delegatedCredential(expiredTokens, { access: 'graph' }),
				},
				{
					...FAKE_OPENAI,
					type: 'openAiApi',
					data: { apiKey: 'local-test-key', url: model.url },
				},
			]),
		);
		await n8n.cli(['import:credentials', `--input=${file}`]);
	});

	after(async () => {
		await n8n?.stop();
		await model.stop();
	});

	it('loads the three nodes and both credentials, and offers the action node as an AI tool', async () => {
		const types = (await n8n.rest('GET', '/types/nodes.json')) as Array<{
			name: string;
			usableAsTool?: boolean;
		}>;
		const names = types.map((t) => t.name);
		assert.ok(names.includes(`${PKG}.m365Mail`), 'action node loaded');
		assert.ok(names.includes(`${PKG}.m365MailTrigger`), 'trigger loaded');
		assert.ok(names.includes(`${PKG}.m365MailInstantTrigger`), 'instant trigger loaded');
		assert.ok(
			names.includes(`${PKG}.m365MailTool`),
			'n8n generated the AI tool variant (usableAsTool)',
		);
		const credentials = (await n8n.rest('GET', '/types/credentials.json')) as Array<{
			name: string;
		}>;
		assert.ok(credentials.some((c) => c.name === 'm365MailOAuth2Api'));
		assert.ok(credentials.some((c) => c.name === 'm365MailAppOnlyApi'));
		// Lazy loading: n8n read dist/known and dist/types instead of requiring the node files at start.
		assert.match(n8n.output(), /Lazy-loading nodes and credentials from n8n-nodes-m365-mail/);
		// The editor's icons, from the paths the generated descriptions name.
		for (const name of ['m365MailTrigger', 'm365MailInstantTrigger', 'm365Mail']) {
			const node = types.find((t) => t.name === `${PKG}.${name}`) as unknown as {
				iconUrl: { light: string; dark: string };
			};
			for (const icon of [node.iconUrl.light, node.iconUrl.dark]) {
				const response = await fetch(`${n8n.url}/${icon}`);
				assert.equal(response.status, 200, icon);
				assert.match(await response.text(), /<svg/);
			}
		}
	});

	it('app-only credential: created through the API, its test passes; a wrong secret fails with the mapped message', async () => {
		const created = await n8n.api('POST', '/credentials', {
			name: 'Service app',
			type: 'm365MailAppOnlyApi',
			data: appOnlyCredential(),
		});
		appOnlyId = created.id as string;
		const test = async (data: Json) =>
			(await n8n.rest('POST', '/rest/credentials/test', {
				credentials: { id: appOnlyId, name: 'Service app', type: 'm365MailAppOnlyApi', data },
			})) as { status: string; message: string };
		const good = await test(appOnlyCredential());
		assert.equal(good.status, 'OK', good.message);
		const bad = await test(appOnlyCredential({ clientSecret: 'not-the-secret' }));
		assert.equal(bad.status, 'Error');
		assert.match(bad.message, /secret/i);
		assert.match(bad.message, /AADSTS7000215/);
		assert.doesNotMatch(bad.message, /not-the-secret/);
	});

	it('delegated credential: n8n’s OAuth2 credential test passes once connected and fails before', async () => {
		// n8n's own test for OAuth2 credential types (it ignores a node's testedBy for them): does the
		// credential hold an access token, that is, did Connect succeed.
		const test = async (data: Json) =>
			(await n8n.rest('POST', '/rest/credentials/test', {
				credentials: { ...DELEGATED_GRAPH, type: 'm365MailOAuth2Api', data },
			})) as { status: string; message: string };
		const signedIn = await signIn('alice@example.test', GRAPH_SCOPES);
		const connected = await test(delegatedCredential(signedIn, { access: 'graph' }));
		assert.equal(connected.status, 'OK', connected.message);
		const neverConnected = delegatedCredential({}, { access: 'graph' });
		delete neverConnected.oauthTokenData;
		const unconnected = await test(neverConnected);
		assert.equal(unconnected.status, 'Error', unconnected.message);
		assert.match(unconnected.message, /not connected/);
	});

	it('trigger over IMAP: Fetch Test Event, activation, one execution per new message with its attachment, flag and move by the action node', async () => {
		const folder = await freshFolder('e2e');
		const done = await freshFolder('e2e-done');
		await appendMails(folder, [{ subject: 'Already there' }]);
		const { nodes, connections } = flagThenMove(
			triggerWorkflowNode('New Mail', folder, credentialRef, { downloadAttachments: true }),
			credentialRef,
			done,
		);
		const id = await n8n.createWorkflow('E2E IMAP trigger', nodes, connections);

		// Fetch Test Event: the newest message, nothing changed in the mailbox by it alone... then the
		// action nodes of the manual run flag and move it; put a fresh one back for the activation part.
		const sample = await n8n.runManually(id, 'New Mail');
		const [sampleItem] = runData(sample, 'New Mail');
		assert.equal(sampleItem.json.subject, 'Already there');
		assert.equal(runData(sample, 'Move')[0].json.folder, done);

		await n8n.api('POST', `/workflows/${id}/activate`); // first poll: starts from now
		assert.equal((await n8n.executions(id)).filter((e) => e.mode === 'trigger').length, 0);

		await appendMails(folder, [
			{
				subject: 'E2E with attachment',
				from: 'Carol <carol@example.test>',
				text: 'see file',
				attachments: [{ filename: 'report.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' }],
			},
		]);
		await n8n.pollNow(id);
		const execution = await n8n.waitFor('an execution of the trigger', async () => {
			const list = (await n8n.executions(id)).filter((e) => e.mode === 'trigger' && e.stoppedAt);
			return list.length ? list[0] : undefined;
		});
		assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 2000));
		const [item] = runData(execution, 'New Mail');
		assert.equal(item.json.subject, 'E2E with attachment');
		assert.deepEqual(item.json.from, { name: 'Carol', address: 'carol@example.test' });
		assert.equal(item.json.folder, folder);
		assert.match(String(item.json.id), /^imap:\d+:\d+:/);
		assert.equal(item.binary?.attachment_0?.fileName, 'report.csv');
		// n8n 2.41 keeps binary data on disk by default: the item holds an id, not the bytes. The
		// benchmarks' harness does the same (storeBinaryDataOnDisk in test/harness/n8n.ts).
		assert.match(String(item.binary?.attachment_0?.id), /^filesystem-v2:/);
		assert.equal(item.binary?.attachment_0?.data, 'filesystem-v2');
		assert.equal(runData(execution, 'Flag')[0].json.isFlagged, true);
		assert.equal(runData(execution, 'Move')[0].json.folder, done);
		const moved = await listFolder(done);
		assert.ok(
			moved.some((m) => m.subject === 'E2E with attachment' && m.flags.includes('\\Flagged')),
		);

		// A second poll with nothing new: no new execution.
		await n8n.pollNow(id);
		await new Promise((r) => setTimeout(r, 4000));
		assert.equal((await n8n.executions(id)).filter((e) => e.mode === 'trigger').length, 1);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('trigger over Microsoft Graph: a delivered message becomes an execution with its attachment; the action node flags and moves it by its id', async () => {
		const stamp = Date.now();
		const folder = `Inbox/e2e-graph-${stamp}`;
		const done = `Inbox/e2e-graph-done-${stamp}`;
		await graphFolder('alice@example.test', folder);
		await graphFolder('alice@example.test', done);
		const graphRef = { m365MailOAuth2Api: DELEGATED_GRAPH };
		const { nodes: graphNodes, connections: graphConnections } = flagThenMove(
			triggerWorkflowNode('New Mail', folder, graphRef, { downloadAttachments: true }),
			graphRef,
			done,
		);
		const id = await n8n.createWorkflow('E2E Graph trigger', graphNodes, graphConnections);
		await n8n.api('POST', `/workflows/${id}/activate`);
		await graphDeliver(
			'alice@example.test',
			{
				subject: 'E2E over Graph',
				from: 'Carol <carol@example.test>',
				text: 'see file',
				attachments: [{ filename: 'report.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' }],
			},
			folder,
		);
		await n8n.pollNow(id);
		const execution = await n8n.waitFor('an execution of the Graph trigger', async () => {
			const list = (await n8n.executions(id)).filter((e) => e.mode === 'trigger' && e.stoppedAt);
			return list.length ? list[0] : undefined;
		});
		assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 2000));
		const [item] = runData(execution, 'New Mail');
		assert.equal(item.json.subject, 'E2E over Graph');
		assert.deepEqual(item.json.from, { name: 'Carol', address: 'carol@example.test' });
		assert.equal(item.json.folder, folder);
		assert.doesNotMatch(String(item.json.id), /^imap:/);
		assert.equal(item.binary?.attachment_0?.fileName, 'report.csv');
		// n8n 2.41 keeps binary data on disk by default: the item holds an id, not the bytes. The
		// benchmarks' harness does the same (storeBinaryDataOnDisk in test/harness/n8n.ts).
		assert.match(String(item.binary?.attachment_0?.id), /^filesystem-v2:/);
		assert.equal(item.binary?.attachment_0?.data, 'filesystem-v2');
		assert.equal(runData(execution, 'Flag')[0].json.isFlagged, true);
		// Graph's immutable id: the same id before and after the move.
		const [moved] = runData(execution, 'Move');
		assert.equal(moved.json.folder, done);
		assert.equal(moved.json.id, item.json.id);
		const stored = await graphList('alice@example.test', done);
		assert.equal(stored.length, 1);
		assert.equal(stored[0].flag?.flagStatus, 'flagged');
		assert.deepEqual(await graphList('alice@example.test', folder), []);
		await n8n.pollNow(id);
		await new Promise((r) => setTimeout(r, 4000));
		assert.equal((await n8n.executions(id)).filter((e) => e.mode === 'trigger').length, 1);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('action node sends over Microsoft Graph from a workflow run; the recipient has it, and so does Sent Items', async () => {
		const subject = `E2E Graph send ${Date.now()}`;
		const id = await n8n.createWorkflow(
			'E2E Graph send',
			[
				manualTriggerNode('m2'),
				actionWorkflowNode(
					'Send',
					1,
					{ m365MailOAuth2Api: DELEGATED_GRAPH },
					{
						resource: 'message',
						operation: 'send',
						to: 'bob@example.test',
						subject,
						text: 'from n8n over Graph',
					},
				),
			],
			{ Manual: { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
		);
		const execution = await n8n.runManually(id, 'Manual');
		assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 2000));
		assert.equal(runData(execution, 'Send')[0].json.from, 'alice@example.test');
		const received = (await graphList('bob@example.test', 'inbox')).filter(
			(m) => m.subject === subject,
		);
		assert.equal(received.length, 1, 'delivered to bob once');
		assert.ok(
			(await graphList('alice@example.test', 'sentitems')).some((m) => m.subject === subject),
		);
	});

	it('an expired Graph token: n8n refreshes it through its request helper and stores the rotated refresh token', async () => {
		const id = await n8n.createWorkflow(
			'E2E expired Graph token',
			[
				manualTriggerNode('m3'),
				actionWorkflowNode(
					'Folders',
					1,
					{ m365MailOAuth2Api: EXPIRED_GRAPH },
					{ resource: 'folder', operation: 'getAll', returnAll: true },
				),
			],
			{ Manual: { main: [[{ node: 'Folders', type: 'main', index: 0 }]] } },
		);
		const execution = await n8n.runManually(id, 'Manual');
		assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 2000));
		assert.ok(runData(execution, 'Folders').some((item) => item.json.path === 'Inbox'));
		// What n8n stored for the credential now: a new access token and Microsoft's rotated refresh token.
		const file = join(userFolder, 'expired-export.json');
		await n8n.cli([
			'export:credentials',
			`--id=${EXPIRED_GRAPH.id}`,
			'--decrypted',
			`--output=${file}`,
		]);
		const [exported] = JSON.parse(readFileSync(file, 'utf8')) as Array<{ data: Json }>;
		const stored = exported.data.oauthTokenData as Json;
		assert.notEqual(stored.access_token, expiredTokens.access_token);
		assert.notEqual(stored.refresh_token, expiredTokens.refresh_token);
		assert.ok(Number(stored.n8n_expires_at) > Date.now());
	});

	it('AI Agent: a chat model calls the action node as a tool; the mail it sends arrives', async () => {
		const subject = `Agent greeting ${Date.now()}`;
		model.script = {
			tool: 'Send_Mail',
			arguments: { subject, body: 'Hello Bob, from the agent.' },
		};
		const id = await n8n.createWorkflow(
			'E2E agent tool',
			[
				manualTriggerNode('m4'),
				...agentNodes('', 'Send Bob a short greeting by email.'),
				sendMailTool('', { m365MailOAuth2Api: DELEGATED_GRAPH }),
			],
			agentConnections({ 'Send Mail': 'Agent' }),
		);
		model.requests.length = 0;
		const execution = await n8n.runManually(id, 'Manual');
		assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 3000));
		// n8n offered our node to the model as a function whose parameters are the $fromAI fields.
		const offered = model.requests[0].tools?.find((t) => t.function.name === 'Send_Mail');
		assert.ok(offered, JSON.stringify(model.requests[0].tools ?? []).slice(0, 2000));
		const properties = (offered.function.parameters?.properties ?? {}) as Record<string, unknown>;
		assert.ok('subject' in properties && 'body' in properties, JSON.stringify(properties));
		// The tool ran, its result went back to the model, and the agent answered with it.
		assert.equal(model.requests.length, 2);
		const toolMessage = model.requests[1].messages.find((m) => m.role === 'tool');
		assert.match(JSON.stringify(toolMessage?.content ?? ''), /bob@example\.test/);
		assert.match(String(runData(execution, 'Agent')[0].json.output), /^Done\. The tool said:/);
		const received = (await graphList('bob@example.test', 'inbox')).filter(
			(m) => m.subject === subject,
		);
		assert.equal(received.length, 1, 'the agent’s mail reached bob once');
	});

	it('action node sends over SMTP from a workflow run; the recipient reads it back', async () => {
		const subject = `E2E send ${Date.now()}`;
		const id = await n8n.createWorkflow(
			'E2E send',
			[
				manualTriggerNode('m1'),
				actionWorkflowNode('Send', 1, credentialRef, {
					resource: 'message',
					operation: 'send',
					to: 'bob@example.test',
					subject,
					text: 'from n8n',
				}),
			],
			{ Manual: { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
		);
		const execution = await n8n.runManually(id, 'Manual');
		assert.equal(runData(execution, 'Send')[0].json.from, 'alice@example.test');
		const client = await testImap('bob@example.test');
		try {
			const lock = await client.getMailboxLock('INBOX', { readOnly: true });
			try {
				const found = await client.search({ subject }, { uid: true });
				assert.ok(Array.isArray(found) && found.length === 1, 'delivered to bob');
			} finally {
				lock.release();
			}
		} finally {
			await client.logout();
		}
	});

	it('action node saves a draft over IMAP from a workflow run, and Get reads it by the id the draft item gives; nothing is sent', async () => {
		const subject = `E2E draft ${Date.now()}`;
		const execution = await draftThen('E2E draft', subject, 'for review', 'Read', 'get');
		const [draft] = runData(execution, 'Draft');
		assert.equal(draft.json.draft, true);
		assert.equal(draft.json.folder, 'Drafts');
		const [read] = runData(execution, 'Read');
		assert.equal(read.json.subject, subject);
		assert.equal(read.json.id, draft.json.id);
		assert.ok((read.json.flags as string[]).includes('\\Draft'), String(read.json.flags));
		assert.deepEqual(await uidsWith('bob@example.test', 'INBOX', subject), [], 'not sent');
	});

	it('action node sends a saved draft from a workflow run (Create Draft, then Send Draft with its id): each recipient gets it once, and it leaves Drafts', async () => {
		const subject = `E2E send draft ${Date.now()}`;
		const execution = await draftThen('E2E send draft', subject, 'reviewed', 'Send', 'sendDraft');
		const [draft] = runData(execution, 'Draft');
		const [sent] = runData(execution, 'Send');
		assert.equal(sent.json.draftId, draft.json.id);
		assert.equal(sent.json.messageId, draft.json.messageId);
		assert.equal(sent.json.draftRemoved, true);
		assert.equal((await uidsWith('bob@example.test', 'INBOX', subject)).length, 1);
		assert.equal((await uidsWith('carol@example.test', 'INBOX', subject)).length, 1);
		assert.deepEqual(await uidsWith('alice@example.test', 'Drafts', subject), []);
	});

	it('action node creates, reads, renames, moves and deletes a folder in one workflow run, each step on the path the last one gave; the folder ends in Deleted Items with the name it was given', async () => {
		const stamp = Date.now();
		const onPath = { __rl: true, mode: 'path', value: '={{ $json.path }}' };
		const archive = { __rl: true, mode: 'path', value: 'archive' };
		const folder = (operation: string, more: Record<string, unknown>) =>
			({ resource: 'folder', operation, ...more }) as Record<string, unknown>;
		const execution = await runChain('E2E folder', [
			['Create', folder('create', { path: `Inbox/E2E-${stamp}` })],
			['Read', folder('get', { folder: onPath })],
			['Rename', folder('rename', { folder: onPath, newName: `E2E-renamed-${stamp}` })],
			['Move', folder('move', { folder: onPath, destination: archive })],
			['Delete', folder('delete', { folder: onPath })],
		]);
		const [read] = runData(execution, 'Read');
		assert.deepEqual([read.json.totalItemCount, read.json.unreadItemCount], [0, 0]);
		assert.equal(runData(execution, 'Rename')[0].json.path, `Inbox/E2E-renamed-${stamp}`);
		assert.equal(runData(execution, 'Move')[0].json.path, `Archive/E2E-renamed-${stamp}`);
		const [deleted] = runData(execution, 'Delete');
		assert.equal(deleted.json.movedTo, `Deleted Items/E2E-renamed-${stamp}`);
		const client = await testImap('alice@example.test');
		try {
			const names = (await client.list()).map((f) => f.path);
			assert.ok(names.includes(`Deleted Items/E2E-renamed-${stamp}`), names.join(', '));
			const left = names.filter(
				(n) => !n.startsWith('Deleted Items/') && n.endsWith(String(stamp)),
			);
			assert.deepEqual(left, [], 'nowhere else: not in the Inbox, not in Archive');
		} finally {
			await client.logout();
		}
	});

	it('Send and Wait for Response (approve or decline): opening a link of the mail records nothing; the button on its page resumes the execution with the answer; a link changed by hand is refused', async () => {
		const subject = `E2E approval ${Date.now()}`;
		const { executionId, mail } = await askBob('E2E approval', subject, {
			message: 'Ship <b>release</b> 1.2?\nIt passed its tests.',
			approvalOptions: { values: { approvalType: 'double', disapproveLabel: 'Not yet' } },
			options: {
				limitWaitTime: {
					values: { limitType: 'afterTimeInterval', resumeAmount: 2, resumeUnit: 'hours' },
				},
			},
		});
		const waiting = await n8n.executionIn(executionId, 'waiting');
		const until = Date.parse(String(waiting.waitTill));
		assert.ok(
			Math.abs(until - (Date.now() + 2 * 3_600_000)) < 600_000,
			`waits 2 hours: ${waiting.waitTill}`,
		);
		// What the message asks is shown as text: its "<b>" is not markup in the mail.
		assert.ok(mail.html.includes('Ship &lt;b&gt;release&lt;/b&gt; 1.2?<br>It passed its tests.'));
		assert.ok(!mail.html.includes('<b>release'));
		assert.equal(mail.links.length, 2);
		const [decline, approve] = mail.links;
		assert.equal(new URL(decline).searchParams.get('approved'), 'false');
		assert.equal(new URL(approve).searchParams.get('approved'), 'true');
		assert.ok(
			mail.text.includes(`Not yet: ${decline}`) && mail.text.includes(`Approve: ${approve}`),
		);

		// A scanner or a preview opens every link: each shows its page, and nothing is answered.
		for (const [link, label] of [
			[decline, 'Not yet'],
			[approve, 'Approve'],
		]) {
			const page = await fetch(link, { headers: { 'user-agent': 'Mozilla/5.0' } });
			assert.equal(page.status, 200);
			const html = await page.text();
			assert.ok(html.includes('<form method="post">') && html.includes(`>${label}</button>`), html);
			assert.ok(html.includes('Ship &lt;b&gt;release'), 'the question, as text');
			assert.match(String(page.headers.get('content-security-policy')), /frame-ancestors 'none'/);
		}
		// The answer is in the signed link: one changed by hand is refused by n8n.
		const forged = await post(approve.replace('approved=true', 'approved=false'));
		assert.equal(forged.status, 401);
		assert.equal((await n8n.executionIn(executionId, 'waiting')).status, 'waiting');

		const answered = await post(approve);
		assert.equal(answered.status, 200);
		assert.ok((await answered.text()).includes('Answer recorded'));
		const done = await n8n.executionIn(executionId, 'success');
		const [item] = runData(done, 'Ask');
		const data = item.json.data as { approved: boolean; respondedAt: string };
		assert.equal(data.approved, true);
		assert.ok(Math.abs(Date.parse(data.respondedAt) - Date.now()) < 120_000);
		// A second answer, after the first: nothing more happens to the execution.
		const late = await post(decline);
		assert.ok(late.status < 500, `a late answer: ${late.status}`);
		const after = await n8n.api('GET', `/executions/${executionId}?includeData=true`);
		assert.equal((runData(after, 'Ask')[0].json.data as { approved: boolean }).approved, true);
	});

	it('Send and Wait for Response (free text): the link opens a form; an empty answer is asked again, a written one resumes the execution with its text', async () => {
		const subject = `E2E free text ${Date.now()}`;
		const { executionId, mail } = await askBob('E2E free text', subject, {
			message: 'Which date suits you?',
			responseType: 'freeText',
			options: { respondLabel: 'Answer' },
		});
		await n8n.executionIn(executionId, 'waiting');
		assert.equal(mail.links.length, 1);
		assert.ok(mail.html.includes('>Answer</a>'));
		const form = await (await fetch(mail.links[0])).text();
		assert.ok(form.includes('<textarea id="response" name="response"'), form);
		const empty = await post(mail.links[0], '   ');
		assert.equal(empty.status, 400);
		assert.ok((await empty.text()).includes('Write an answer'));
		assert.equal((await n8n.executionIn(executionId, 'waiting')).status, 'waiting');
		const answer = 'Tuesday ✓ <b>after 10</b>\nor Wednesday';
		assert.equal((await post(mail.links[0], answer)).status, 200);
		const done = await n8n.executionIn(executionId, 'success');
		assert.equal((runData(done, 'Ask')[0].json.data as { text: string }).text, answer);
	});

	it('Send and Wait for Response (custom form): the link opens the form its fields define, from the input item; a wrong answer is asked again; a right one resumes the execution with each field under its label', async () => {
		const subject = `E2E custom form ${Date.now()}`;
		const { executionId, mail } = await askBob(
			'E2E custom form',
			subject,
			{
				message: 'Book a room',
				responseType: 'customForm',
				defineForm: 'json',
				// Read again when the link is opened, from the waiting node's input item.
				jsonOutput: `={{ [
					{ fieldLabel: 'Name', fieldType: 'text', requiredField: true },
					{ fieldLabel: 'Team', fieldType: 'dropdown', fieldOptions: { values: $json.teams.map(option => ({ option })) } },
					{ fieldLabel: 'Rooms', fieldType: 'checkbox', fieldOptions: { values: [{ option: 'A' }, { option: 'B' }] } },
					{ fieldLabel: 'Seats', fieldType: 'number' },
					{ fieldLabel: 'Notes', fieldType: 'textarea' }
				] }}`,
				options: {
					respondLabel: 'Fill in',
					responseFormTitle: 'Room booking',
					responseFormButtonLabel: 'Book',
				},
			},
			{ teams: ['Sales', 'Support <b>'] },
		);
		await n8n.executionIn(executionId, 'waiting');
		assert.equal(mail.links.length, 1);
		assert.ok(mail.html.includes('>Fill in</a>'));
		const form = await (await fetch(mail.links[0])).text();
		for (const html of [
			'<h1>Room booking</h1>\n<p>Book a room</p>',
			'<form method="post" enctype="multipart/form-data">',
			'<input type="text" id="field-0" name="field-0"',
			'<option value="Support &lt;b&gt;">Support &lt;b&gt;</option>',
			'<input type="checkbox" name="field-2" id="field-2-1" value="B">',
			'<input type="number" id="field-3" name="field-3" step="any"',
		])
			assert.ok(form.includes(html), `${html} in ${form}`);
		// Anyone with the link can post anything: a choice the field does not offer is asked again.
		const wrong = await post(mail.links[0], [
			['field-0', 'Ada'],
			['field-1', 'Marketing'],
			['field-2', 'A'],
			['field-2', 'B'],
		]);
		assert.equal(wrong.status, 400);
		assert.ok((await wrong.text()).includes('&quot;Team&quot; has an answer that is not one'));
		assert.equal((await n8n.executionIn(executionId, 'waiting')).status, 'waiting');
		// The recipient answers in a browser: Chromium fills in the page and presses its button.
		if (!chromiumInstalled()) throw new Error('Chromium is not installed: run scripts/setup.sh');
		const browser = await launchBrowser();
		try {
			const page = browser.pages()[0] ?? (await browser.newPage());
			await page.goto(mail.links[0]);
			await page.getByLabel('Name *').fill('Ada');
			await page.getByLabel('Team').selectOption('Support <b>');
			await page.getByLabel('A', { exact: true }).check();
			await page.getByLabel('B', { exact: true }).check();
			await page.getByLabel('Seats').fill('4');
			await page.getByRole('button', { name: 'Book' }).click();
			await page.getByText('Answer recorded').waitFor({ timeout: 30_000 });
		} finally {
			await browser.close();
		}
		const done = await n8n.executionIn(executionId, 'success');
		const data = { ...(runData(done, 'Ask')[0].json.data as Json) };
		assert.ok(Math.abs(Date.parse(String(data.respondedAt)) - Date.now()) < 120_000);
		delete data.respondedAt;
		assert.deepEqual(data, {
			Name: 'Ada',
			Team: 'Support <b>',
			Rooms: ['A', 'B'],
			Seats: 4,
			Notes: null,
		});
	});

	it('Send and Wait for Response with Limit Wait Time: without an answer, the execution goes on with its input when the time is up', async () => {
		const subject = `E2E no answer ${Date.now()}`;
		const { executionId } = await askBob('E2E no answer', subject, {
			message: 'Anyone?',
			options: {
				limitWaitTime: {
					values: { limitType: 'afterTimeInterval', resumeAmount: 0.02, resumeUnit: 'minutes' },
				},
			},
		});
		// n8n's wait tracker looks for executions due to resume once a minute.
		const done = await n8n.executionIn(executionId, 'success', 150_000);
		assert.deepEqual(
			runData(done, 'Ask').map((item) => item.json),
			[{}],
			"the Manual trigger's item, without an answer",
		);
	});

	it('Send and Wait for Response as an AI Agent tool: the agent asks a person by mail, the execution waits, and the answer is the tool result the model reads', async () => {
		const review = `Plain tool ${Date.now()}`;
		model.script = { tool: 'Ask_Carol', arguments: {} };
		model.requests.length = 0;
		const id = await n8n.createWorkflow(
			'E2E plain tool ask',
			[
				manualTriggerNode('m-plain'),
				...agentNodes('-p', 'Ask Carol.'),
				askCarol('Ask Carol', 'm365MailTool', review, { resource: 'message', message: 'Go?' }),
			],
			agentConnections({ 'Ask Carol': 'Agent' }),
		);
		const executionId = await n8n.startManually(id, 'Manual');
		const mail = await mailTo(n8n, 'carol@example.test', review);
		await n8n.executionIn(executionId, 'waiting');
		assert.equal(model.requests.length, 1, 'the model waits for the answer too');
		assert.equal((await post(mail.links[0])).status, 200);
		const done = await n8n.executionIn(executionId, 'success');
		const toolMessage = model.requests[1].messages.find((m) => m.role === 'tool');
		assert.match(JSON.stringify(toolMessage?.content ?? ''), /approved\\":true/);
		assert.match(
			String(runData(done, 'Agent')[0].json.output),
			/^Done\. The tool said: .*"approved":true/,
		);
	});

	it('Human in the Loop for an AI Agent: n8n offers the node as a review step for another tool; the tool runs only after the reviewer approves in the mail, and never when they decline', async () => {
		for (const approved of [true, false]) {
			const subject = `Agent reviewed ${approved} ${Date.now()}`;
			const review = `Review ${approved} ${Date.now()}`;
			model.script = {
				tool: 'Send_Mail',
				arguments: {
					toolParameters: { subject, body: 'Hello Bob, reviewed.' },
					hitlParameters: {},
				},
			};
			const id = await n8n.createWorkflow(
				`E2E agent review ${approved}`,
				[
					manualTriggerNode(`m-review-${approved}`),
					...agentNodes('-r', 'Send Bob a short greeting.'),
					sendMailTool('-r', credentialRef),
					askCarol('Review', 'm365MailHitlTool', review, {
						// The second run keeps n8n's default message.
						...(approved
							? {
									message:
										'=The agent wants to run {{ $tool.name }} with {{ JSON.stringify($tool.parameters) }}',
								}
							: {}),
						approvalOptions: { values: { approvalType: 'double' } },
					}),
				],
				agentConnections({ 'Send Mail': 'Review', Review: 'Agent' }),
			);
			model.requests.length = 0;
			const executionId = await n8n.startManually(id, 'Manual');
			const mail = await mailTo(n8n, 'carol@example.test', review);
			await n8n.executionIn(executionId, 'waiting');
			// The message names the tool and the input the model gave it (n8n's $tool); n8n's default
			// message writes the input as "[object Object]" (what the README says).
			if (approved)
				assert.ok(mail.text.includes('Send_Mail with {') && mail.text.includes(subject), mail.text);
			else
				assert.ok(
					mail.text.includes(
						'The agent wants to run this tool: Send_Mail\n\nInput:\n[object Object]',
					),
					mail.text,
				);
			const answer = mail.links.find((link) => link.includes(`approved=${approved}`))!;
			assert.equal((await fetch(answer)).status, 200);
			assert.equal((await n8n.executionIn(executionId, 'waiting')).status, 'waiting');
			assert.deepEqual(await uidsWith('bob@example.test', 'INBOX', subject), [], 'not sent yet');

			assert.equal((await post(answer)).status, 200);
			const done = await n8n.executionIn(executionId, 'success');
			const output = String(runData(done, 'Agent')[0].json.output);
			const sent = await uidsWith('bob@example.test', 'INBOX', subject);
			if (approved) {
				assert.match(output, /^Done\. The tool said:.*bob@example\.test/s);
				assert.equal(sent.length, 1, 'sent once');
			} else {
				// The agent hears that the reviewer said no; the tool never ran.
				assert.match(output, /User rejected the tool call to Send[ _]Mail/);
				assert.deepEqual(sent, [], 'never sent');
			}
		}
	});
});

/**
 * Runs Manual → each of `steps` (our action node, named and configured) in a row, in real n8n; the
 * execution, which must succeed.
 */
async function runChain(
	workflow: string,
	steps: Array<[name: string, parameters: Record<string, unknown>]>,
): Promise<Awaited<ReturnType<N8nInstance['runManually']>>> {
	const names = ['Manual', ...steps.map(([name]) => name)];
	const id = await n8n.createWorkflow(
		workflow,
		[
			manualTriggerNode(`m-${workflow.replace(/\W+/g, '-')}`),
			...steps.map(([name, parameters], i) =>
				actionWorkflowNode(name, i + 1, credentialRef, parameters),
			),
		],
		chainConnections(names),
	);
	const execution = await n8n.runManually(id, 'Manual');
	assert.equal(execution.status, 'success', JSON.stringify(execution).slice(0, 2000));
	return execution;
}

/** Connections of a chain of nodes, each to the next, by name. */
function chainConnections(names: string[]): Json {
	return Object.fromEntries(
		names
			.slice(0, -1)
			.map((from, i) => [from, { main: [[{ node: names[i + 1], type: 'main', index: 0 }]] }]),
	);
}

/** Manual → Create Draft (to Bob, Bcc Carol) → `node`, an operation on the draft's `{{ $json.id }}`. */
async function draftThen(
	workflow: string,
	subject: string,
	text: string,
	node: string,
	operation: string,
) {
	return await runChain(workflow, [
		[
			'Draft',
			{
				resource: 'message',
				operation: 'createDraft',
				to: 'bob@example.test',
				subject,
				text,
				options: { bcc: 'carol@example.test' },
			},
		],
		[node, { resource: 'message', operation, messageId: '={{ $json.id }}' }],
	]);
}

/** The UIDs of messages with this subject in a folder of a test mailbox. */
async function uidsWith(mailbox: string, folder: string, subject: string): Promise<number[]> {
	const client = await testImap(mailbox);
	try {
		const lock = await client.getMailboxLock(folder, { readOnly: true });
		try {
			return (await client.search({ subject }, { uid: true })) || [];
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/**
 * Manual → "Ask" (Send and Wait for Response to Bob), started as the editor starts it: the waiting
 * execution's id, and the mail Bob received (its HTML, its text, and its links in order).
 */
async function askBob(
	workflow: string,
	subject: string,
	parameters: Json,
	input?: Json,
): Promise<{ executionId: string; mail: { html: string; text: string; links: string[] } }> {
	// With an input, a Set node between the Manual trigger and Ask gives Ask that item.
	const inputNode = {
		id: `set-${workflow.replace(/\W+/g, '-')}`,
		name: 'Input',
		type: 'n8n-nodes-base.set',
		typeVersion: 3.4,
		position: [125, 0],
		parameters: { mode: 'raw', jsonOutput: JSON.stringify(input), options: {} },
	};
	const id = await n8n.createWorkflow(
		workflow,
		[
			manualTriggerNode(`m-${workflow.replace(/\W+/g, '-')}`),
			...(input ? [inputNode] : []),
			actionWorkflowNode('Ask', 1, credentialRef, {
				resource: 'message',
				operation: 'sendAndWait',
				to: 'bob@example.test',
				subject,
				...parameters,
			}),
		],
		chainConnections(['Manual', ...(input ? ['Input'] : []), 'Ask']),
	);
	const executionId = await n8n.startManually(id, 'Manual');
	return { executionId, mail: await mailTo(n8n, 'bob@example.test', subject) };
}

/** n8n's AI Agent and the scripted chat model as its model. */
function agentNodes(suffix: string, prompt: string): Json[] {
	return [
		{
			id: `agent${suffix}`,
			name: 'Agent',
			type: '@n8n/n8n-nodes-langchain.agent',
			typeVersion: 3,
			position: [250, 0],
			parameters: { promptType: 'define', text: prompt, options: {} },
		},
		{
			id: `model${suffix}`,
			name: 'Model',
			type: '@n8n/n8n-nodes-langchain.lmChatOpenAi',
			typeVersion: 1.2,
			position: [250, 200],
			parameters: { model: { __rl: true, mode: 'id', value: 'fake-model' }, options: {} },
			credentials: { openAiApi: FAKE_OPENAI },
		},
	];
}

/** Our node as the AI tool "Send Mail": Send to Bob, the model filling subject and body. */
function sendMailTool(suffix: string, credentials: Json): Json {
	return {
		id: `tool${suffix}`,
		name: 'Send Mail',
		type: `${PKG}.m365MailTool`,
		typeVersion: 1,
		position: [500, 200],
		parameters: {
			authentication: 'delegated',
			resource: 'message',
			operation: 'send',
			to: 'bob@example.test',
			subject: "={{ $fromAI('subject', 'The subject line', 'string') }}",
			text: "={{ $fromAI('body', 'The message text', 'string') }}",
		},
		credentials,
	};
}

/** Our node's Send and Wait for Response to Carol, as n8n's variant `type` (tool or review step). */
function askCarol(name: string, type: string, subject: string, parameters: Json = {}): Json {
	return {
		id: `${name}-ask`.replace(/\W+/g, '-'),
		name,
		type: `${PKG}.${type}`,
		typeVersion: 1,
		position: [500, 400],
		parameters: {
			authentication: 'delegated',
			operation: 'sendAndWait',
			to: 'carol@example.test',
			subject,
			...parameters,
		},
		credentials: credentialRef,
	};
}

/** Manual → Agent with its model; `tools` are the ai_tool connections (node → node). */
function agentConnections(tools: Record<string, string>): Json {
	return {
		Manual: { main: [[{ node: 'Agent', type: 'main', index: 0 }]] },
		Model: { ai_languageModel: [[{ node: 'Agent', type: 'ai_languageModel', index: 0 }]] },
		...Object.fromEntries(
			Object.entries(tools).map(([from, to]) => [
				from,
				{ ai_tool: [[{ node: to, type: 'ai_tool', index: 0 }]] },
			]),
		),
	};
}
