import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import type { ImapSessions } from '../sessions';
import { changeMessageFlags, flagDescription } from './flags';

export const description = flagDescription('unflag');

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	return await changeMessageFlags(this, itemIndex, connection, sessions, 'unflag');
}
