import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import type { ImapSessions } from '../sessions';
import { changeMessageFlags, flagDescription } from './flags';
import { flagOptionsDescription, graphOnly, readFlagDates } from './graphOnly';

export const description = [...flagDescription('flag'), flagOptionsDescription];

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	if (readFlagDates(this, itemIndex).dueDate) throw graphOnly('A due date on the flag');
	return await changeMessageFlags(this, itemIndex, connection, sessions, 'flag');
}
