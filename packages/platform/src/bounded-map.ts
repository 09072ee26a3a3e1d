/**
 * A map that holds at most `entriesMax` entries, for the caches and
 * counters a process keeps per token, account or client.
 *
 * Why not a Map that drops its oldest key (`map.keys().next()`) once full:
 * V8 leaves a deleted entry as a hole in the Map's table until it rehashes,
 * and an iterator starts at the table's first slot, so once a Map is full
 * and churning every such eviction walks the holes the previous ones left.
 * With 50,000 tokens that was 33 µs per new token on this machine against
 * 0.3 µs here (docs/performance-log.md, "Caches that evict"): more than a
 * third of an Ed25519 check, paid twice per new user through the gateway,
 * and at the gateway's rate limiter, once per new client under a flood.
 *
 * Here entries live in two generations of up to half the bound each: new
 * entries go into the young one; when it is full it becomes the old one and
 * the previous old one is forgotten at once (so a full map holds between
 * half its bound and all of it). An entry read from the old
 * generation moves back to the young one, so what is in use stays and what
 * was not read for a generation is forgotten first. Every operation is a
 * few Map lookups; nothing iterates.
 */
export interface BoundedMap<K, V> {
  /** The value, or undefined (values are never undefined); a read keeps the entry. */
  get(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): void;
  delete(key: K): void;
  /** Entries held: at most entriesMax. */
  readonly size: number;
}

export function createBoundedMap<K, V>(entriesMax: number): BoundedMap<K, V> {
  if (!Number.isInteger(entriesMax) || entriesMax < 2) {
    throw new RangeError(`entriesMax must be an integer of at least 2, got ${entriesMax}`);
  }
  const generationMax = Math.floor(entriesMax / 2);
  let young = new Map<K, V>();
  let old = new Map<K, V>();

  function putYoung(key: K, value: V): void {
    if (young.size >= generationMax) {
      old = young;
      young = new Map();
    }
    young.set(key, value);
  }

  return {
    get(key) {
      const value = young.get(key);
      if (value !== undefined) return value;
      const aged = old.get(key);
      if (aged === undefined) return undefined;
      old.delete(key);
      putYoung(key, aged);
      return aged;
    },
    has(key) {
      return young.has(key) || old.has(key);
    },
    set(key, value) {
      if (young.has(key)) {
        young.set(key, value);
        return;
      }
      old.delete(key);
      putYoung(key, value);
    },
    delete(key) {
      young.delete(key);
      old.delete(key);
    },
    get size() {
      return young.size + old.size;
    },
  };
}
