import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { Agent, fetch } from "undici";
import { afterEach, expect } from "vitest";
import WebSocket from "ws";
import { type Config, dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { buildApp } from "../../src/server/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";

/** A server listening on a loopback port, on a data dir that may outlive it (for restarts). */
export interface LiveServer {
  readonly app: FastifyInstance;
  readonly manager: SessionManager;
  readonly store: Store;
  readonly config: Config;
  readonly home: string;
  readonly token: string;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** JSON request with the admin token (or `token`). */
  json<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  /** Stops the server; the data dir stays. */
  stop(): Promise<void>;
}

/** A new data dir. */
export function newHome(): { home: string; remove: () => void } {
  const home = mkdtempSync(join(tmpdir(), "sessiond-streams-"));
  return { home, remove: () => rmSync(home, { recursive: true, force: true }) };
}

/** Builds and starts a server on `home` (port 0). */
export async function listen(home: string, flags: Record<string, unknown> = {}): Promise<LiveServer> {
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "silent", sqliteSynchronous: "normal", port: 0, ...flags } });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  const app = await buildApp({ config, manager, store });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  const url = `http://127.0.0.1:${address.port}`;
  const token = readFileSync(dataPaths(config).token, "utf8").trim();
  let stopped = false;
  // Its own connection pool, closed before the server: a shared pool keeps sockets (even fresh,
  // unused ones) open, and a server does not finish closing while a client holds one.
  const agent = new Agent();
  return {
    app,
    manager,
    store,
    config,
    home,
    token,
    url,
    async json(method, path, body, bearer) {
      const res = await fetch(url + path, {
        dispatcher: agent,
        method,
        headers: { authorization: `Bearer ${bearer ?? token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const info of app.sessiond.live.list()) if (info.pid !== null) shellPids.add(info.pid);
      await agent.destroy();
      await app.close();
      await manager.close();
    },
  };
}

/** Pids of the shells of every server stopped so far, checked by {@link expectNoLeakedShells}. */
const shellPids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A test file's servers, and whatever else it opens, undone after each test (last first); then
 * no shell process may have outlived its server. `server(flags)` starts one on a fresh data dir
 * with the file's `defaults` and `flags`; push anything else to close on `cleanups`.
 */
export function perTest(defaults: Record<string, unknown> = {}) {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    expect(await leakedShells(), "shell processes outlived their server").toEqual([]);
  });
  const server = async (flags: Record<string, unknown> = {}): Promise<LiveServer> => {
    const { home, remove } = newHome();
    const s = await listen(home, { ...defaults, ...flags });
    cleanups.push(remove, () => s.stop());
    return s;
  };
  return { cleanups, server };
}

/** Waits (bounded) for the shells of stopped servers to be gone; returns those still alive. */
export async function leakedShells(): Promise<number[]> {
  const deadline = Date.now() + 5_000;
  while ([...shellPids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const leaked = [...shellPids].filter(alive);
  shellPids.clear();
  return leaked;
}

/** One parsed SSE event. */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: any;
}

/** A real SSE client over fetch: collects events; `until` waits for a condition on them. */
export class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  errorBody: any;
  private readonly controller = new AbortController();
  /** Its own pool, destroyed on close (see LiveServer). */
  private readonly agent = new Agent();
  private waiters: (() => void)[] = [];
  ended = false;
  private readonly done: Promise<void>;
  /** While set, the client reads nothing more (the server's writes back up). */
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(url: string, token: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, token, headers);
  }

  private async run(url: string, token: string, headers: Record<string, string>): Promise<void> {
    try {
      const res = await fetch(url, {
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", ...headers },
        signal: this.controller.signal,
      });
      this.status = res.status;
      if (res.status !== 200) {
        this.errorBody = await res.json();
        return;
      }
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (this.gate) await this.gate;
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id: string | undefined;
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) this.events.push({ id, event, data: JSON.parse(data) });
        }
        this.wake();
      }
    } catch (err) {
      if ((err as Error).name !== "AbortError") throw err;
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  /** Resolves once `check` holds (checked on every arrival). */
  async until(check: (events: SseEvent[]) => boolean): Promise<void> {
    while (!check(this.events)) {
      if (this.ended) throw new Error(`the SSE stream ended first (status ${this.status}): ${JSON.stringify(this.events.slice(-3))}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Resolves once the response has started (status known). */
  async started(): Promise<void> {
    while (this.status === 0 && !this.ended) await new Promise<void>((r) => setTimeout(r, 5));
  }

  /** Stops reading the response. */
  pause(): void {
    this.gate ??= new Promise<void>((resolve) => (this.openGate = resolve));
  }

  /** Reads again. */
  resume(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async close(): Promise<void> {
    this.resume();
    this.controller.abort();
    await this.done.catch(() => {});
    await this.agent.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** A real WebSocket client collecting parsed messages (one JSON object per line of each text frame). */
export class WsClient {
  readonly socket: WebSocket;
  readonly messages: any[] = [];
  readonly binary: Buffer[] = [];
  /** Bytes of all binary frames so far. */
  binaryBytes = 0;
  closeCode: number | undefined;
  closeReason = "";
  unexpectedStatus: number | undefined;
  unexpectedBody: any;
  private waiters: (() => void)[] = [];
  readonly opened: Promise<void>;

  constructor(url: string, token: string | undefined) {
    this.socket = new WebSocket(url.replace(/^http/, "ws"), token ? { headers: { authorization: `Bearer ${token}` } } : {});
    this.opened = new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("unexpected-response", (_req, res) => {
        this.unexpectedStatus = res.statusCode;
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => {
          this.unexpectedBody = body ? JSON.parse(body) : undefined;
          reject(new Error(`HTTP ${res.statusCode}`));
        });
      });
      this.socket.once("error", reject);
    });
    this.opened.catch(() => {});
    this.socket.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        this.binary.push(Buffer.from(data));
        this.binaryBytes += data.length;
      }
      else for (const line of data.toString("utf8").split("\n")) this.messages.push(JSON.parse(line));
      this.wake();
    });
    this.socket.on("close", (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.wake();
    });
  }

  /** The last `n` bytes of binary frames received, as text (cheap to check on every arrival). */
  tail(n = 4096): string {
    const parts: Buffer[] = [];
    let have = 0;
    for (let i = this.binary.length - 1; i >= 0 && have < n; i--) {
      parts.unshift(this.binary[i]!);
      have += this.binary[i]!.length;
    }
    return Buffer.concat(parts).toString("utf8");
  }

  async until(check: (client: WsClient) => boolean): Promise<void> {
    while (!check(this)) {
      if (this.closeCode !== undefined) throw new Error(`the socket closed first: ${this.closeCode} ${this.closeReason}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async closed(): Promise<void> {
    while (this.closeCode === undefined) await new Promise<void>((r) => this.waiters.push(r));
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Decodes an output message's data to bytes. */
export function outputBytes(m: { data: string; encoding?: string }): Buffer {
  return m.encoding === "base64" ? Buffer.from(m.data, "base64") : Buffer.from(m.data, "utf8");
}
