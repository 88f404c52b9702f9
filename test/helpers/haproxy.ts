import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

/** A server behind the load balancer. */
export interface Backend {
  /** Its name in HAProxy's config (and logs). */
  readonly name: string;
  readonly port: number;
  readonly host?: string;
}

/** A running HAProxy in front of some backends. */
export interface Haproxy {
  /** `http://127.0.0.1:<port>`: the frontend. */
  readonly url: string;
  readonly port: number;
  /** What HAProxy printed (warnings, alerts). */
  readonly lines: string[];
  close(): Promise<void>;
}

/** How often HAProxy checks a backend's /healthz, in ms: short, so a dead node leaves the rotation quickly. */
const CHECK_INTERVAL_MS = 250;
/** How long HAProxy may take to start answering before the test gives up. */
const START_TIMEOUT_MS = 20_000;

/**
 * Why HAProxy cannot be used here, or undefined when it can. Under CI (`CI=true`) a missing
 * HAProxy throws: CI must not pass by skipping.
 */
export function haproxyMissing(): string | undefined {
  try {
    execFileSync("haproxy", ["-v"], { stdio: "ignore" });
    return undefined;
  } catch {
    const reason = "haproxy not found (apt-get install -y haproxy)";
    if (process.env.CI === "true") throw new Error(`CI=true but ${reason}: the cluster cannot be tested`);
    return reason;
  }
}

/**
 * The config of a plain HTTP load balancer as an operator would write one for sessiond: round
 * robin, health checks on /healthz, a request whose connection is refused retried on another
 * node, and streams (SSE, WebSocket) left open for as long as they last.
 */
export function haproxyConfig(frontendPort: number, backends: readonly Backend[]): string {
  return [
    "global",
    "  maxconn 4096",
    "defaults",
    "  mode http",
    "  timeout connect 1s",
    "  timeout client 120s",
    "  timeout server 120s",
    // A WebSocket (attach) or an SSE feed stays open for the whole test.
    "  timeout tunnel 1h",
    "  option redispatch",
    "  retries 2",
    "frontend sessiond",
    `  bind 127.0.0.1:${frontendPort}`,
    "  default_backend nodes",
    "backend nodes",
    "  balance roundrobin",
    "  option httpchk",
    "  http-check send meth GET uri /healthz",
    ...backends.map((b) => `  server ${b.name} ${b.host ?? "127.0.0.1"}:${b.port} check inter ${CHECK_INTERVAL_MS} fall 2 rise 1`),
    "",
  ].join("\n");
}

/**
 * Starts `haproxy -db` (foreground) on a free loopback port in front of `backends`, and resolves
 * once the frontend answers `/healthz` (so at least one backend is up).
 */
export async function startHaproxy(backends: readonly Backend[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), "sessiond-haproxy-"));
  const port = await freePort();
  const config = join(dir, "haproxy.cfg");
  writeFileSync(config, haproxyConfig(port, backends));
  const child: ChildProcess = spawn("haproxy", ["-f", config, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`haproxy exited with ${child.exitCode}:\n${lines.join("\n")}`);
    }
    const answered = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (answered) return { url, port, lines, close };
    if (Date.now() > deadline) {
      await close();
      throw new Error(`haproxy did not answer on ${url} within ${START_TIMEOUT_MS} ms:\n${lines.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
