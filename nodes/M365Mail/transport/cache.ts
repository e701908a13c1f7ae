/** Per-connection caches (a folder list read once per session or client). */

/** What `load` gives for `key`, loaded once; a failed load is forgotten so the next call tries again. */
export function loadOnce<K extends object, V>(
	cache: WeakMap<K, Promise<V>>,
	key: K,
	load: (key: K) => Promise<V>,
): Promise<V> {
	let value = cache.get(key);
	if (!value) {
		value = load(key);
		cache.set(key, value);
		value.catch(() => cache.delete(key));
	}
	return value;
}
