/**
 * A library loaded on first use and then kept: n8n loads every node file when it starts, so the
 * protocol libraries are required only when a poll or an operation needs them. One `import()` per
 * library, not per call (a dynamic import is not free, least of all under a loader hook).
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
	let loaded: Promise<T> | undefined;
	return () => {
		loaded ??= load();
		loaded.catch(() => (loaded = undefined));
		return loaded;
	};
}
