import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import type { ImapSessions } from '../sessions';
import { transfer, transferDescription } from './transfer';

export const description = transferDescription('copy');

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	return await transfer(this, itemIndex, connection, sessions, 'copy');
}
