import { type Server, type Socket, createServer, connect } from "node:net";

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** The count ran out: what else comes is not forwarded. */
  cutting: boolean;
}

/**
 * A TCP proxy in front of a test server that drops connections when told: at once (`cut`), or
 * once the current connection has carried so many more bytes to the client (`cutAfter`) — in the
 * middle of a message, if that is where the count ends. While `hold` is on, new connections are
 * accepted but not forwarded until `release`, so a test can write while its client cannot reach
 * the server, whatever the client's reconnection delay.
 */
export class DropProxy {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Connections accepted so far. */
  accepted = 0;
  private readonly open = new Set<Pair>();
  private current: Pair | undefined;
  private budget: number | undefined;
  private held: (() => void)[] | undefined;
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Starts a proxy to `target` (an http://host:port URL) on a loopback port. */
  static async start(target: string): Promise<DropProxy> {
    const { hostname, port } = new URL(target);
    let proxy: DropProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    proxy = new DropProxy(server, address.port);
    return proxy;
  }

  /** Drops every open connection now. */
  cut(): void {
    this.budget = undefined;
    for (const pair of this.open) this.drop(pair);
  }

  /** Drops the newest connection once it has carried `bytes` more bytes to the client. */
  cutAfter(bytes: number): void {
    this.budget = bytes;
  }

  /** From now on, new connections wait until `release`. */
  hold(): void {
    this.held ??= [];
  }

  /** Forwards the connections held, and new ones again. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  /** Resolves once `check` holds (checked whenever a connection opens or drops). */
  async until(check: (proxy: DropProxy) => boolean): Promise<void> {
    while (!check(this)) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.open.size;
  }

  async close(): Promise<void> {
    this.release();
    for (const pair of this.open) this.drop(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    this.accepted++;
    client.pause();
    // A client that gives up while held is just gone.
    client.on("error", () => client.destroy());
    const forward = () => {
      if (client.destroyed) return;
      const upstream = connect(port, host);
      const pair: Pair = { client, upstream, cutting: false };
      this.open.add(pair);
      this.current = pair;
      client.on("data", (chunk: Buffer) => upstream.write(chunk));
      upstream.on("data", (chunk: Buffer) => this.toClient(pair, chunk));
      client.on("end", () => upstream.end());
      upstream.on("end", () => client.end());
      for (const s of [client, upstream]) {
        s.on("error", () => this.drop(pair));
        s.on("close", () => this.drop(pair));
      }
      client.resume();
      this.wake();
    };
    if (this.held) {
      this.held.push(forward);
      this.wake();
    } else forward();
  }

  private toClient(pair: Pair, chunk: Buffer): void {
    if (pair.cutting) return;
    if (pair !== this.current || this.budget === undefined) return void pair.client.write(chunk);
    if (chunk.length < this.budget) {
      this.budget -= chunk.length;
      return void pair.client.write(chunk);
    }
    const head = chunk.subarray(0, this.budget);
    this.budget = undefined;
    pair.cutting = true;
    // The bytes up to the count reach the client, then the connection goes (a reset, as a network
    // failure looks to both ends).
    pair.client.write(head, () => this.drop(pair));
  }

  private drop(pair: Pair): void {
    if (!this.open.delete(pair)) return;
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
