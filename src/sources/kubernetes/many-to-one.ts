/** A many-to-one relation with its reverse index: slice → Service, Backend → Service. */
export class ManyToOne<K, V> {
  private readonly forward = new Map<K, V>();
  private readonly reverse = new Map<V, Set<K>>();

  get(key: K): V | undefined {
    return this.forward.get(key);
  }

  /** Every key that points at `value`. */
  keysOf(value: V): ReadonlySet<K> {
    return this.reverse.get(value) ?? new Set();
  }

  /** Points `key` at `value` (undefined removes it); returns the previous value. */
  set(key: K, value: V | undefined): V | undefined {
    const before = this.forward.get(key);
    if (before === value) return before;
    if (before !== undefined) {
      const set = this.reverse.get(before);
      set?.delete(key);
      if (set?.size === 0) this.reverse.delete(before);
    }
    if (value === undefined) this.forward.delete(key);
    else {
      this.forward.set(key, value);
      let set = this.reverse.get(value);
      if (!set) this.reverse.set(value, (set = new Set()));
      set.add(key);
    }
    return before;
  }
}
