/**
 * A first-in first-out queue with a fixed capacity, as a ring buffer: pushing onto a full queue
 * drops the oldest item, so memory stays bounded however long the consumer is away, and what is
 * kept is the most recent. Capacity 0 keeps nothing.
 */
export class BoundedQueue<T> {
  private readonly items: (T | undefined)[] = [];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.count;
  }

  /** Appends `item`. @returns true when an item was dropped to make room (or `item` itself, at capacity 0) */
  push(item: T): boolean {
    if (this.capacity === 0) return true;
    if (this.count === this.capacity) {
      this.items[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return true;
    }
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return false;
  }

  /** Removes and returns up to `max` of the oldest items. */
  take(max: number): T[] {
    const n = Math.min(max, this.count);
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.count -= n;
    return out;
  }

  /** Empties the queue. @returns how many items it held */
  clear(): number {
    const n = this.count;
    this.items.length = 0;
    this.head = 0;
    this.count = 0;
    return n;
  }
}
