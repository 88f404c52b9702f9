/**
 * Servers under test in child processes, and the load generator that drives them (autocannon),
 * shared by the HTTP benchmarks. A bench script runs itself in a child with `--mode=<name>`; the
 * child prints `READY {json}` once it listens, and exits on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";

export interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
export interface CannonOptions {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}
export const autocannon = createRequire(import.meta.url)("autocannon") as (options: CannonOptions) => Promise<CannonResult>;

/** `--key=value` arguments as an object. */
export function parseArgs(argv: readonly string[] = process.argv.slice(2)): Record<string, string> {
  return Object.fromEntries(argv.map((a) => a.replace(/^--/, "").split(/=(.*)/s).slice(0, 2) as [string, string]));
}

/** Child side: tells the parent the server is up, and how to reach it. */
export function reportReady(value: Record<string, unknown>): void {
  process.stdout.write(`READY ${JSON.stringify(value)}\n`);
}

/** Child side: a bare Fastify hello-world, the peer every HTTP figure is read against. */
export async function helloServer(): Promise<void> {
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  app.get("/", async () => ({ hello: "world" }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  reportReady({ port: (app.server.address() as { port: number }).port });
  process.once("SIGTERM", () => process.exit(0));
}

/**
 * Child side: a bare Fastify that answers every GET with the bytes of one file, as JSON. The peer
 * of a figure whose answers are large (a page of sessions): what sending those bytes alone costs.
 */
export async function staticServer(file: string): Promise<void> {
  const [{ default: Fastify }, { readFileSync }] = await Promise.all([import("fastify"), import("node:fs")]);
  const body = readFileSync(file);
  const app = Fastify({ logger: false });
  app.get("/*", (_request, reply) => {
    reply.type("application/json; charset=utf-8").send(body);
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  reportReady({ port: (app.server.address() as { port: number }).port });
  process.once("SIGTERM", () => process.exit(0));
}

export interface StartedServer {
  readonly child: ChildProcess;
  readonly info: Record<string, unknown>;
}

/** Parent side: runs `script --mode=<mode> …extra` under tsx and waits for its READY line. */
export function startServer(script: string, mode: string, extra: readonly string[] = []): Promise<StartedServer> {
  const child = spawn(process.execPath, ["--import", "tsx", script, `--mode=${mode}`, ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("READY "));
      if (line) resolve({ child, info: JSON.parse(line.slice("READY ".length)) as Record<string, unknown> });
    });
    child.once("exit", (code) => reject(new Error(`${mode} server exited with ${code} before it was ready`)));
  });
}

/** Parent side: SIGTERM, and wait for the exit. */
export async function stopServer(started: StartedServer): Promise<void> {
  if (started.child.exitCode !== null) return;
  const exited = new Promise((resolve) => started.child.once("exit", resolve));
  started.child.kill("SIGTERM");
  await exited;
}

export interface LoadFigure {
  readonly name: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Errors, timeouts and non-2xx answers. */
  readonly bad: number;
}

/** One autocannon run after a warm-up. */
export async function measureLoad(name: string, options: CannonOptions, warmupSeconds = 2): Promise<LoadFigure> {
  if (warmupSeconds > 0) await autocannon({ ...options, duration: warmupSeconds });
  const r = await autocannon(options);
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.timeouts + r.non2xx };
}
