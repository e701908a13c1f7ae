/**
 * Counting delivery, as every fault test does: which of the expected messages were lost, and which
 * came more than once. Shared by the integration and the end-to-end tests.
 */

/** Lost and duplicated among `expected`, as counted in `seen`. */
export function count(
	expected: string[],
	seen: string[],
): { lost: string[]; duplicated: string[] } {
	const times = new Map<string, number>();
	for (const s of seen) times.set(s, (times.get(s) ?? 0) + 1);
	return {
		lost: expected.filter((s) => !times.has(s)),
		duplicated: [...times].filter(([, n]) => n > 1).map(([s]) => s),
	};
}
