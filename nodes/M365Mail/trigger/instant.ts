/**
 * The instant trigger: the same delivery engine as the poll, driven by notice of new mail (IMAP IDLE)
 * instead of n8n's poll timer, with one execution per message (or per small batch, as an option)
 * and the "after" action applied only when that execution succeeded. A run that fails (or is
 * cancelled, or does not finish in time) leaves its messages as they are: the engine's ledger emits
 * them again after the delay, up to the attempts, then a failed execution names them. A message
 * whose run has not finished is never emitted again.
 */
import {
	NodeOperationError,
	type IDataObject,
	type IExecuteResponsePromiseData,
	type INodeExecutionData,
	type IRun,
	type ITriggerFunctions,
	type ITriggerResponse,
} from 'n8n-workflow';

import { openNodeMailbox } from '../shared/connection';
import { toNodeError } from '../shared/errors';
import { readOptionsFor, toItem } from '../shared/output';
import { redactSecrets } from '../transport/auth/errors';
import {
	requireCapability,
	type ChangeSubscriptions,
	type FolderWatch,
	type InstantNotice,
	type Mailbox,
} from '../transport/mailbox';
import { acknowledge, deliver, GaveUpError, type Delivery } from './engine';
import { GRAPH_NOTICE_NEEDS, keepSubscription, listen, listenerKey } from './notifications';
import { awaitOutcome, WORKER_REPORT_GRACE_MS, type Outcome } from './outcome';
import { readTriggerSettings } from './settings';
import { emittedBefore, TriggerStore } from './state';
import { within } from '../transport/within';

/** Even without notice, look this often (a missed EXISTS, a notice lost in a reconnect). */
const SAFETY_CHECK_MS = 5 * 60_000;
/** Tries of the action after a successful run (0.5, 1, 2, 4 and 8 s apart) before the ledger's turn. */
const ACTION_TRIES = 6;

export async function instantTrigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
	const node = this.getNode();
	const settings = (() => {
		try {
			return readTriggerSettings(this);
		} catch (error) {
			throw toNodeError(node, error);
		}
	})();
	const { folder, output } = settings;
	const runWait = {
		waitingCountsAsSuccess: settings.options.waitingCountsAsSuccess !== false,
		maxWaitMs: Math.max(Number(settings.options.maxWaitMinutes ?? 60), 0.1) * 60_000,
	};
	const perRun = Math.min(
		Math.max(Math.floor(Number(settings.options.messagesPerRun ?? 1)), 1),
		100,
	);
	let mailbox: Mailbox;
	try {
		mailbox = await openNodeMailbox(this, { debug: (message) => this.logger.debug(message) });
	} catch (error) {
		throw toNodeError(node, error);
	}
	const { address } = mailbox;
	const source = mailbox.watch({ folder, filters: settings.filters, ...readOptionsFor(output) });
	const prepare = async (data: Buffer, name: string, mime: string) =>
		await this.helpers.prepareBinaryData(data, name, mime);
	const build = async (fetched: Parameters<typeof toItem>[0], delivery: Delivery) => {
		const item = await toItem(fetched, output, prepare);
		item.json.delivery = { ...delivery } as IDataObject;
		return item;
	};

	if (this.getMode() === 'manual') {
		// "Fetch Test Event" / a manual run: the newest matching message, nothing changed.
		const manualTriggerFunction = async () => {
			try {
				const sample = await source.sample();
				if (!sample) {
					throw new NodeOperationError(node, `No message in "${folder}" matches the filters`, {
						description: 'Send a message to the folder, or loosen the filters, and try again.',
					});
				}
				this.emit([
					[await build(sample, { attempt: 1, firstEmittedAt: new Date().toISOString() })],
				]);
			} catch (error) {
				throw toNodeError(node, error);
			} finally {
				await mailbox.close();
			}
		};
		return { manualTriggerFunction, closeFunction: async () => await mailbox.close() };
	}

	const graphNotice = this.getNodeParameter('notice', 'imapIdle') === 'graph';
	let instant: InstantNotice | undefined;
	let subscriptions: ChangeSubscriptions | undefined;
	try {
		if (graphNotice) {
			subscriptions = requireCapability(
				mailbox,
				mailbox.changeNotifications,
				...GRAPH_NOTICE_NEEDS,
			);
		} else {
			instant = requireCapability(mailbox, mailbox.instant, 'Instant notice of new mail', {
				protocol: 'IMAP',
				fix: 'Set New Mail Notice to "Microsoft Graph Change Notifications" (n8n must then be reachable over https), use the Microsoft 365 Mail Trigger (it polls), or a credential with IMAP access.',
			});
		}
	} catch (error) {
		await mailbox.close();
		throw toNodeError(node, error);
	}

	const staticData = this.getWorkflowStaticData('node');
	const key = `${address}|${folder}`.toLowerCase();
	const workflow = this.getWorkflow();
	const flightKey = `instant:${workflow.id ?? ''}:${node.id ?? node.name}`;
	/** Messages whose run has not finished. */
	const running = new Set<string>();
	/** Messages whose run succeeded and whose action is to be tried again. */
	const owing = new Set<string>();
	/** Successes to record: applied between catch-ups, so a catch-up's commit check holds. */
	let acks: string[] = [];
	let closed = false;
	let cycle: Promise<void> | undefined;
	let again = false;
	const timers = new Set<NodeJS.Timeout>();
	const later = (ms: number, work: () => void) => {
		const timer = setTimeout(() => {
			timers.delete(timer);
			work();
		}, ms);
		timers.add(timer);
	};
	let watch: FolderWatch | undefined;
	/** A look the mail source asked for (young holes below the IMAP cursor): one pending at most. */
	let lookPending = false;

	/**
	 * The after-run action for messages whose run succeeded. Those that succeed while one is being
	 * applied wait and go together in the next (a burst costs a few rounds of IMAP commands, not one
	 * per message, and a run's success is marked sooner). With their Message-IDs (`known`) and origins,
	 * a message given a new UID, or copied into a folder created again, during the run is found again.
	 */
	type Known = Array<[string, string | null]>;
	let waiting: Array<{ known: Known; settle: (error?: Error) => void }> = [];
	let applying = false;
	const applyAfterSuccess = async (known: Known) =>
		await new Promise<void>((resolve, reject) => {
			waiting.push({ known, settle: (error) => (error ? reject(error) : resolve()) });
			if (applying) return;
			applying = true;
			void (async () => {
				while (waiting.length) {
					const group = waiting;
					waiting = [];
					let failure: Error | undefined;
					try {
						if (closed) throw new Error('the trigger was stopped');
						const known = new Map(group.flatMap((w) => w.known));
						const { origins } = emittedBefore(new TriggerStore(staticData).get(key));
						await source.apply(settings.afterEmit, [...known.keys()], known, origins);
					} catch (error) {
						failure = error as Error;
					}
					for (const w of group) w.settle(failure);
				}
				applying = false;
			})();
		});

	/**
	 * Emits one execution (one message, or a small batch of them as its items) and settles its
	 * messages when n8n says how the run went: all of them after a success, none otherwise.
	 */
	const handOver = async (items: INodeExecutionData[]) => {
		const known: Known = items.map((i) => [
			String(i.json.id),
			(i.json.messageId as string) ?? null,
		]);
		const ids = known.map(([id]) => id);
		for (const id of ids) running.add(id);
		const done = this.helpers.createDeferredPromise<IRun>();
		const response = this.helpers.createDeferredPromise<IExecuteResponsePromiseData>();
		const named =
			ids.length === 1 ? ids[0] : `${ids.length} messages (${ids.join(', ').slice(0, 300)})`;
		let outcome: Outcome;
		let ended: number | undefined;
		try {
			this.emit([items], response, done);
			const said = await awaitOutcome(done.promise, response.promise, runWait);
			outcome = said.outcome;
			if (said.from === 'worker')
				this.logger.info(
					`Microsoft 365 Mail Trigger (Instant): n8n's main did not report the end of the run of ${named}; the worker reported it ${outcome === 'success' ? 'succeeded' : 'failed'} ${WORKER_REPORT_GRACE_MS / 1000} s ago, and that is taken`,
				);
			// In queue mode the run comes from a worker: its dates may arrive as strings.
			const stoppedAt = new Date(said.run?.stoppedAt ?? NaN).getTime();
			if (Number.isFinite(stoppedAt)) ended = stoppedAt;
		} catch {
			outcome = 'failed';
		}
		try {
			if (closed) return;
			if (outcome === 'success') {
				// How long n8n took to say so (it saves the execution first) is most of the time in
				// which a restart emits a succeeded message again: logged, for whoever looks into one.
				this.logger.debug(
					`Microsoft 365 Mail Trigger (Instant): n8n reported the run of ${named} succeeded${ended === undefined ? '' : `, ${Math.max(Date.now() - ended, 0)} ms after it ended`}`,
				);
				await applyAfterSuccess(known);
				actionDone(ids, named, '');
			} else {
				this.logger.info(
					`Microsoft 365 Mail Trigger (Instant): the run of ${named} ${outcome === 'timeout' ? 'did not finish in time' : 'did not succeed'}; ${settings.redeliverAfterMs > 0 ? `it is emitted again in ${settings.redeliverAfterMs / 60_000} minute(s)` : 'it is not emitted again (Emit Again After a Failed Run is 0)'}`,
				);
				if (settings.redeliverAfterMs > 0) later(settings.redeliverAfterMs + 1000, look);
			}
		} catch (error) {
			if (closed) return;
			actionAgain(known, named, error as Error, 1);
		} finally {
			for (const id of ids) running.delete(id);
		}
	};

	/** The action after a successful run is done: the success is recorded with the next catch-up. */
	const actionDone = (ids: string[], named: string, tries: string) => {
		this.logger.debug(
			`Microsoft 365 Mail Trigger (Instant): the action after the run of ${named} is done (${settings.afterEmit.action}${tries})`,
		);
		acks.push(...ids);
		if (!cycle) look();
	};

	/**
	 * The run succeeded but its action failed (a dropped connection, most often): the action is tried
	 * again, not the run, and the message is not emitted again meanwhile. After the last try it stays
	 * in the at-least-once ledger: emitted again after the delay if it is still unread.
	 */
	const actionAgain = (known: Known, named: string, error: Error, attempt: number) => {
		const ids = known.map(([id]) => id);
		const last = attempt >= ACTION_TRIES;
		const inMs = 500 * 2 ** (attempt - 1);
		this.logger.warn(
			`Microsoft 365 Mail Trigger (Instant): the run of ${named} succeeded but the action failed: ${redactSecrets(error.message)}; ${last ? `it is emitted again ${settings.redeliverAfterMs > 0 ? 'after Emit Again After a Failed Run if it is still unread' : 'only if you mark it unread (Emit Again After a Failed Run is 0)'}` : `the action is tried again in ${inMs / 1000} s`}`,
		);
		if (last) {
			for (const id of ids) owing.delete(id);
			if (settings.redeliverAfterMs > 0) later(settings.redeliverAfterMs + 1000, look);
			return;
		}
		for (const id of ids) owing.add(id);
		later(inMs, () => {
			void (async () => {
				try {
					await applyAfterSuccess(known);
				} catch (again) {
					if (!closed) actionAgain(known, named, again as Error, attempt + 1);
					return;
				}
				for (const id of ids) owing.delete(id);
				actionDone(ids, named, `, try ${attempt + 1}`);
			})();
		});
	};

	/** The chosen give-up actions for messages whose last attempt failed (flag first, then move). */
	const giveUp = async (ids: string[]) => {
		const moveTo = String(settings.options.giveUpMoveTo ?? '').trim();
		const actions = [
			...(settings.options.giveUpFlag === true ? [{ action: 'flag' as const }] : []),
			...(moveTo ? [{ action: 'move' as const, folder: moveTo }] : []),
		];
		for (const action of actions) {
			try {
				await source.apply(action, ids);
			} catch (error) {
				this.logger.warn(
					`Microsoft 365 Mail Trigger (Instant): the action after the last failed run failed: ${redactSecrets((error as Error).message)}`,
				);
			}
		}
	};

	/** One catch-up: the engine finds what is new (and what is due again) and each becomes a run. */
	const catchUp = async () => {
		if (acks.length) {
			acknowledge(staticData, key, acks);
			acks = [];
		}
		const result = await deliver({
			flightKey,
			staticData,
			key,
			source,
			options: {
				...settings,
				afterEmit: { action: 'none' },
				budgetMs: 5 * 60_000,
				holding: (id) => running.has(id) || owing.has(id),
			},
			build,
			log: this.logger,
		});
		if (result.kind === 'failed') {
			const error = toNodeError(node, result.error);
			if (result.error instanceof GaveUpError) {
				await giveUp(result.error.entries.map((e) => e.id));
				this.saveFailedExecution(error as never);
			} else if (result.trouble) this.emitError(error);
			else this.saveFailedExecution(error as never);
			return;
		}
		if (result.kind !== 'items') return;
		if (result.reset) watch?.renew?.();
		if (result.lookAgainInMs && !lookPending) {
			lookPending = true;
			later(result.lookAgainInMs, () => void ((lookPending = false), look()));
		}
		// One execution per message, or per small batch of the messages this catch-up found (it does
		// not wait for more mail to fill a batch).
		for (let i = 0; i < result.items.length; i += perRun)
			void handOver(result.items.slice(i, i + perRun));
		// More than one catch-up's worth waiting: go on at once.
		if (result.items.length >= settings.maxMessages) again = true;
	};

	/** Runs a catch-up now, or right after the one running. */
	const look = (): void => {
		if (closed) return;
		if (cycle) {
			again = true;
			return;
		}
		cycle = (async () => {
			do {
				again = false;
				try {
					await catchUp();
				} catch (error) {
					this.logger.warn(
						`Microsoft 365 Mail Trigger (Instant): ${redactSecrets((error as Error).message)}`,
					);
				}
			} while (again && !closed);
		})().finally(() => (cycle = undefined));
	};

	// The first catch-up runs at activation: a wrong folder or credential fails the activation.
	try {
		await catchUp();
	} catch (error) {
		await mailbox.close();
		throw toNodeError(node, error);
	}
	try {
		if (instant) {
			watch = await instant.watch(folder, {
				onChange: look,
				onTrouble: (error, attempt, retryInMs) => {
					const message = `Microsoft 365 Mail Trigger (Instant): the IDLE session failed (${attempt} in a row): ${redactSecrets(error.message)}; trying again in ${Math.round(retryInMs / 1000)} s`;
					if (attempt >= 10) this.emitError(toNodeError(node, error));
					else this.logger.warn(message);
				},
			});
		} else {
			// Graph: n8n's webhook methods made the subscription; its notices reach this process's
			// webhook, which says "look now". The subscription is kept alive from here.
			const kept = keepSubscription(this, subscriptions!, folder, look);
			const unlisten = listen(listenerKey(workflow.id, node.name), kept.listener);
			watch = {
				renew: kept.follow,
				stop: async () => {
					unlisten();
					await kept.stop();
				},
			};
		}
	} catch (error) {
		await mailbox.close();
		throw toNodeError(node, error);
	}
	const safety = setInterval(look, SAFETY_CHECK_MS);
	return {
		closeFunction: async () => {
			closed = true;
			clearInterval(safety);
			for (const timer of timers) clearTimeout(timer);
			await watch?.stop();
			if (cycle) await within(cycle, 10_000, undefined); // not for ever on a silent connection
			await mailbox.close();
		},
	};
}
