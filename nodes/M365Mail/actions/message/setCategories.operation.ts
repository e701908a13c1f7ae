import type { INodeExecutionData } from 'n8n-workflow';

import { messageIdProperty } from './helpers';
import { categoriesDescription, graphOnly } from './graphOnly';

export const description = [messageIdProperty(['setCategories']), ...categoriesDescription];

/** Over IMAP: Exchange does not expose Outlook categories there. Graph runs this in graph.ts. */
export async function execute(): Promise<INodeExecutionData[]> {
	throw graphOnly('Outlook categories');
}
