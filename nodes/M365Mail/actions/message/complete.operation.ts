import type { INodeExecutionData } from 'n8n-workflow';

import { messageIdProperty } from './helpers';
import { graphOnly } from './graphOnly';

export const description = [messageIdProperty(['complete'])];

/** Over IMAP: a flag there is on or off, there is no "complete". Graph runs this in graph.ts. */
export async function execute(): Promise<INodeExecutionData[]> {
	throw graphOnly('Marking a flag complete');
}
