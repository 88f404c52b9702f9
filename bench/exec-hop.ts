/**
 * What the HTTP hop adds to an exec, and what many sessions at once cost, each beside its floor
 * measured in the same run:
 *
 * 1. shell `true` and python `x += 1` through the engine (LiveSessions inside the server process,
 *    asked over IPC so the same sessions and the same process serve every path), over the Unix
 *    socket with `sessiond/client`, and over TCP with a token — rounds interleaved. Targets: the
 *    socket's p50 ≤ the engine's + 0.3 ms, TCP's ≤ the engine's + 0.5 ms.
 *    Beside them, the hop's floor on this machine: a bare node-pty marker round trip in the
 *    server process, and the same round trip behind a Fastify route of its own, asked over a Unix
 *    socket with undici — what any HTTP hop around a terminal round trip costs here (on a VM, the
 *    wake-ups of a client and a shell idle for the whole round trip are most of it).
 * 2. `--sessions` live shells each running `--each` `true` at once through the engine, beside as
 *    many bare node-pty bashes each doing as many marker round trips at once: total throughput.
 *
 *   npx tsx bench/exec-hop.ts [--execs=1000] [--rounds=4] [--sessions=100] [--each=1000] [--quick]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "../src/sdk/client/index.js";
import { BarePty } from "./bare-pty.js";
import { type Figure, printFigures } from "./lib.js";
import { parseArgs } from "./servers.js";

const SELF = fileURLToPath(import.meta.url);
/** Execs one client runs before the other takes its turn, within a round. */
const HOP_SLICE = 50;
const args = parseArgs();
const quick = "quick" in args;

/** What the parent asks the server child over IPC. */
type Ask =
  | { id: number; loop: { session: string; input: string; n: number } }
  | { id: number; start: { kind: string; name: string; setup?: string } }
  | { id: number; floorLoop: { n: number } };

/** Child side: a sessiond server (TCP and the Unix socket) whose LiveSessions also answer loops over IPC. */
async function serverChild(home: string): Promise<void> {
  const [{ resolveConfig, dataPaths }, { SessionManager }, { buildApp, createUnixSocketServer, listenOnSocket }, { openStore }] = await Promise.all([
    import("../src/core/index.js"),
    import("../src/engine/index.js"),
    import("../src/server/index.js"),
    import("../src/store/index.js"),
  ]);
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "warn", rateLimitMax: 100_000_000, enableSessions: true } });
  const manager = new SessionManager({ store: await openStore(config), config });
  const app = await buildApp({ config, manager });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const socketPath = dataPaths(config).socket;
  const socketServer = createUnixSocketServer(app);
  await listenOnSocket(socketServer, socketPath);
  const { live } = app.sessiond;
  const floor = await startFloor(join(home, "floor.sock"));
  process.on("message", (ask: Ask) => {
    void (async () => {
      if ("floorLoop" in ask) {
        const samples: number[] = [];
        for (let i = 0; i < ask.floorLoop.n; i++) {
          const started = performance.now();
          await floor.roundTrip();
          samples.push(performance.now() - started);
        }
        return { id: ask.id, samples };
      }
      if ("start" in ask) {
        const session = await live.start({ kind: ask.start.kind as "shell", name: ask.start.name });
        if (ask.start.setup) await live.exec(session.id, ask.start.setup);
        return { id: ask.id, session: session.id };
      }
      const samples: number[] = [];
      for (let i = 0; i < ask.loop.n; i++) {
        const started = performance.now();
        const result = await live.exec(ask.loop.session, ask.loop.input);
        samples.push(performance.now() - started);
        if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
      }
      return { id: ask.id, samples };
    })().then(
      (answer) => process.send!(answer),
      (err: unknown) => process.send!({ id: ask.id, error: String(err) }),
    );
  });
  process.send!({ ready: { port: (app.server.address() as { port: number }).port, socketPath, floorSocketPath: floor.socketPath, token: readFileSync(dataPaths(config).token, "utf8").trim() } });
  process.once("SIGTERM", () => {
    void floor.close().then(() => app.close()).then(() => socketServer.close()).then(() => manager.close()).then(() => process.exit(0));
  });
}

/**
 * The hop's floor: a bare bash on a PTY answering marker round trips, and a Fastify app of its
 * own on `socketPath` whose one route does one such round trip — no auth, store or validation.
 */
async function startFloor(socketPath: string): Promise<{ socketPath: string; roundTrip: () => Promise<void>; close: () => Promise<void> }> {
  const { default: Fastify } = await import("fastify");
  const bare = await BarePty.open();
  const app = Fastify();
  app.post("/exec", async () => {
    await bare.roundTrip();
    return { status: "ok" };
  });
  await app.listen({ path: socketPath });
  return {
    socketPath,
    roundTrip: () => bare.roundTrip(),
    close: async () => {
      await app.close();
      bare.close();
    },
  };
}

/** Parent side: the server child and a way to ask it things. */
class ServerChild {
  private next = 0;
  private readonly waiting = new Map<number, (answer: Record<string, unknown>) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly ready: { port: number; socketPath: string; floorSocketPath: string; token: string },
  ) {
    child.on("message", (m: Record<string, unknown>) => this.waiting.get(m.id as number)?.(m));
  }

  static async start(home: string): Promise<ServerChild> {
    const child = spawn(process.execPath, ["--import", "tsx", SELF, "--mode=server", `--home=${home}`], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const ready = await new Promise<ServerChild["ready"]>((resolve, reject) => {
      child.once("message", (m: { ready: ServerChild["ready"] }) => resolve(m.ready));
      child.once("exit", (code) => reject(new Error(`the server exited with ${code} before it was ready`)));
    });
    return new ServerChild(child, ready);
  }

  async ask(question: Omit<Ask, "id"> & Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++;
    const answer = await new Promise<Record<string, unknown>>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...question, id });
    });
    this.waiting.delete(id);
    if (answer.error) throw new Error(String(answer.error));
    return answer;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}

interface Paths {
  engine: number[];
  socket: number[];
  tcp: number[];
}

/**
 * The hop's floor, measured `rounds` times `execs`: the bare round trip in the server process,
 * then behind the floor's route over its Unix socket. @returns p50s
 */
async function floorHop(server: ServerChild, execs: number, rounds: number): Promise<{ inProcess: number; overSocket: number }> {
  const { Client } = await import("undici");
  const client = new Client("http://localhost", { socketPath: server.ready.floorSocketPath });
  const ask = async () => {
    const answer = await client.request({ method: "POST", path: "/exec", headers: { "content-type": "application/json" }, body: '{"input":"true"}' });
    await answer.body.json();
  };
  try {
    for (let i = 0; i < 200; i++) await ask();
    const inProcess: number[] = [];
    const overSocket: number[] = [];
    for (let round = 0; round < rounds; round++) {
      inProcess.push(...((await server.ask({ floorLoop: { n: execs } })).samples as number[]));
      for (let i = 0; i < execs; i++) {
        const started = performance.now();
        await ask();
        overSocket.push(performance.now() - started);
      }
    }
    return { inProcess: p50(inProcess), overSocket: p50(overSocket) };
  } finally {
    await client.close();
  }
}

/** @param floorMs the hop's floor measured in this run (floorHop), shown beside each hop */
async function hop(server: ServerChild, execs: number, rounds: number, floorMs: number): Promise<Figure[]> {
  const socket = createClient({ socketPath: server.ready.socketPath });
  const tcp = createClient({ baseUrl: `http://127.0.0.1:${server.ready.port}`, token: server.ready.token });
  const shell = (await server.ask({ start: { kind: "shell", name: "hop-shell" } })).session as string;
  const python = (await server.ask({ start: { kind: "python", name: "hop-python", setup: "x = 0" } })).session as string;
  const figures: Figure[] = [];
  try {
    for (const [label, session, input] of [
      ["shell `true`", shell, "true"],
      ["python `x += 1`", python, "x += 1"],
    ] as const) {
      const samples: Paths = { engine: [], socket: [], tcp: [] };
      const timed = async (client: typeof socket, n: number, into: number[]) => {
        for (let i = 0; i < n; i++) {
          const started = performance.now();
          const result = await client.live.exec(session, input);
          into.push(performance.now() - started);
          if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
        }
      };
      // Warm every path (JIT, connections, the interpreter's first cells).
      await server.ask({ loop: { session, input, n: 200 } });
      await timed(socket, 200, []);
      await timed(tcp, 200, []);
      for (let round = 0; round < rounds; round++) {
        samples.engine.push(...((await server.ask({ loop: { session, input, n: execs } })).samples as number[]));
        // The two clients take turns a slice at a time, each first in every other slice: whatever
        // the engine's loop leaves behind (a collection due in the server) falls on both alike.
        for (let done = 0, slice = 0; done < execs; done += HOP_SLICE, slice++) {
          const n = Math.min(HOP_SLICE, execs - done);
          const order = slice % 2 === 0 ? ([[socket, samples.socket], [tcp, samples.tcp]] as const) : ([[tcp, samples.tcp], [socket, samples.socket]] as const);
          for (const [client, into] of order) await timed(client, n, into);
        }
      }
      const engine = p50(samples.engine);
      for (const [path, values, allowance] of [
        ["the Unix socket with sessiond/client", samples.socket, 0.3],
        ["TCP with a token", samples.tcp, 0.5],
      ] as const) {
        const measured = p50(values);
        figures.push({
          name: `${label} over ${path}`,
          measured: `p50 ${ms(measured)} (p99 ${ms(quantile(values, 0.99))})`,
          peer: `engine p50 ${ms(engine)}`,
          ratio: `+${ms(measured - engine)} (the floor's hop +${ms(floorMs)})`,
          target: `≤ engine + ${allowance} ms`,
          pass: measured - engine <= allowance,
        });
      }
    }
  } finally {
    await socket.close();
    await tcp.close();
  }
  return figures;
}

/** Total throughput of `sessions` shells each running `each` `true` at once, through the engine in this process. */
async function concurrentEngine(sessions: number, each: number): Promise<number> {
  const [{ resolveConfig }, { SessionManager }, { LiveSessions }, { openSqliteStore }] = await Promise.all([
    import("../src/core/index.js"),
    import("../src/engine/index.js"),
    import("../src/drivers/index.js"),
    import("../src/store/index.js"),
  ]);
  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-hop-many-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, enableSessions: true, maxLiveSessions: sessions + 10 } });
  const manager = new SessionManager({ store: openSqliteStore(config), config });
  const live = new LiveSessions({ manager, config });
  try {
    const ids: string[] = [];
    for (let i = 0; i < sessions; i++) ids.push((await live.start({ kind: "shell", name: `many-${i}` })).id);
    await Promise.all(ids.map(async (id) => { for (let i = 0; i < 20; i++) await live.exec(id, "true"); }));
    const started = performance.now();
    await Promise.all(
      ids.map(async (id) => {
        for (let i = 0; i < each; i++) {
          const result = await live.exec(id, "true");
          if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
        }
      }),
    );
    return (sessions * each) / ((performance.now() - started) / 1000);
  } finally {
    await live.close();
    await manager.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Total round trips per second of `count` bare bashes on PTYs, each writing `true; echo <marker>` and reading to the marker `each` times, at once. */
async function concurrentBare(count: number, each: number): Promise<number> {
  const ptys = await Promise.all(Array.from({ length: count }, () => BarePty.open()));
  try {
    await Promise.all(ptys.map((pty) => pty.loop(20)));
    const started = performance.now();
    await Promise.all(ptys.map((pty) => pty.loop(each)));
    return (count * each) / ((performance.now() - started) / 1000);
  } finally {
    for (const pty of ptys) pty.close();
  }
}

async function main(): Promise<void> {
  const execs = Number(args.execs ?? (quick ? 200 : 1000));
  const rounds = Number(args.rounds ?? (quick ? 2 : 4));
  const sessions = Number(args.sessions ?? (quick ? 20 : 100));
  const each = Number(args.each ?? (quick ? 100 : 1000));
  console.log(`bench/exec-hop: ${rounds} rounds × ${execs} execs per path; ${sessions} sessions × ${each} at once; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-hop-"));
  const server = await ServerChild.start(home);
  const figures: Figure[] = [];
  try {
    const floor = await floorHop(server, execs, rounds);
    figures.push({
      name: "the hop's floor: a bare PTY round trip behind a Fastify route of its own, over a Unix socket with undici",
      measured: `p50 ${ms(floor.overSocket)}`,
      peer: `the same round trip in the server p50 ${ms(floor.inProcess)}`,
      ratio: `+${ms(floor.overSocket - floor.inProcess)}`,
      target: "informational: the least an HTTP hop around a terminal round trip costs on this machine",
      pass: null,
    });
    figures.push(...(await hop(server, execs, rounds, floor.overSocket - floor.inProcess)));
  } finally {
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  }
  const bare = await concurrentBare(sessions, each);
  const engine = await concurrentEngine(sessions, each);
  figures.push({
    name: `${sessions} shell sessions each running ${each} \`true\` at once, through the engine`,
    measured: `${Math.round(engine)} execs/s`,
    peer: `${sessions} bare PTYs: ${Math.round(bare)} round trips/s`,
    ratio: `${((engine / bare) * 100).toFixed(0)}%`,
    target: "beside the bare PTYs",
    pass: null,
  });
  printFigures(figures);
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function p50(values: readonly number[]): number {
  return quantile(values, 0.5);
}

function ms(x: number): string {
  return `${x.toFixed(3)} ms`;
}

if (args.mode === "server") await serverChild(args.home!);
else await main();
