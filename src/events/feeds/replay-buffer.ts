/**
 * The most recent bytes of a terminal, bounded: what a late joiner is shown first. Offsets count
 * every byte ever pushed; the buffer keeps `[start, end)`.
 */
export class ReplayBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Offset of the first byte kept. */
  start = 0;
  /** Offset just past the last byte pushed. */
  end = 0;

  constructor(private readonly capacity: number) {}

  push(data: Buffer): void {
    this.chunks.push(data);
    this.bytes += data.length;
    this.end += data.length;
    while (this.bytes > this.capacity) {
      const first = this.chunks[0]!;
      const excess = this.bytes - this.capacity;
      if (first.length <= excess) {
        this.chunks.shift();
        this.bytes -= first.length;
        this.start += first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.bytes -= excess;
        this.start += excess;
      }
    }
  }

  /** The kept bytes from `from` (within `[start, end]`) to the end. */
  from(from: number): Buffer {
    const skip = from - this.start;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const all = this.chunks[0] ?? Buffer.alloc(0);
    return skip > 0 ? all.subarray(skip) : all;
  }
}
