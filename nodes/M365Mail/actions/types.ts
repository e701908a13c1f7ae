/** What every operation file exports: its parameters, and the one implementation of it. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { Mailbox } from '../transport/mailbox';

/** Runs one operation for one item against the item's mailbox (IMAP + SMTP or Graph alike). */
export type OperationExecutor = (
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
) => Promise<INodeExecutionData[]>;
