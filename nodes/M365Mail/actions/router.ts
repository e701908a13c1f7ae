/** The only per-item loop: resolves the connection once, runs the operation, owns continueOnFail. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { connectionFromContext } from '../transport/connection';
import { credentialTypeOf, toNodeError, type OperationExecutor } from './common';
import * as folderGetAll from './folder/getAll.operation';

const OPERATIONS: Record<string, Record<string, OperationExecutor>> = {
	folder: { getAll: folderGetAll.execute },
};

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const output: INodeExecutionData[] = [];
	const node = this.getNode();
	const authentication = this.getNodeParameter('authentication', 0) as string;
	let connection;
	try {
		connection = await connectionFromContext(this, credentialTypeOf(authentication));
	} catch (error) {
		throw toNodeError(node, error);
	}
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const resource = this.getNodeParameter('resource', itemIndex) as string;
		const operation = this.getNodeParameter('operation', itemIndex) as string;
		try {
			const run = OPERATIONS[resource]?.[operation];
			if (!run) throw new Error(`The operation "${operation}" of "${resource}" is not supported`);
			output.push(...(await run.call(this, itemIndex, connection)));
		} catch (error) {
			const nodeError = toNodeError(node, error, itemIndex);
			if (this.continueOnFail()) {
				output.push({
					json: {
						error: nodeError.message,
						description: (nodeError as { description?: string }).description ?? null,
					},
					pairedItem: { item: itemIndex },
				});
				continue;
			}
			throw nodeError;
		}
	}
	return [output];
}
