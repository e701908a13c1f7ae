import { requireCapability } from '../../transport/mailbox';
import { changeMessage, changeMessageFlags, flagDescription } from './flags';
import { flagOptionsDescription, readFlagDates } from './followUp';
import type { OperationExecutor } from '../types';

export const description = [...flagDescription('flag'), flagOptionsDescription];

/** A plain flag on both transports; with a due date, Outlook's follow-up flag (Graph). */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const dates = readFlagDates(this, itemIndex);
	if (!dates.dueDate) return await changeMessageFlags(this, itemIndex, mailbox, 'flag');
	const followUp = requireCapability(mailbox, mailbox.followUp, 'A due date on the flag');
	return await changeMessage(this, itemIndex, mailbox, (id) => followUp.flag(id, dates));
};
