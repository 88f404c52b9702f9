import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import { Workspaces, artifactStream } from "../../src/server/workspaces/index.js";
import { type TestServer, startServer } from "./harness.js";

/*
 * The attack: code in a session swaps, as fast as it can, a folder of its workspace with a
 * symbolic link to a folder outside, using renameat2(RENAME_EXCHANGE) so that at every instant
 * one of the two names is the folder and the other the link. Requests for paths under that
 * folder run meanwhile; each must either reach the real folder or be refused.
 */

/**
 * Operations per side (reads, writes) against the workspaces module, where the race is run hard: a
 * check-then-open (lstat or realpath the folder, then open by path) escapes here in 2 to 8 of every
 * 100 operations, its first escape within the first hundred.
 */
const OPERATIONS = 4000;
/**
 * Operations per side over HTTP. The routes read and write through the same module
 * (src/server/routes/artifacts.ts); what this run adds is that they do, and answer 403 for a
 * refusal. An HTTP operation costs four times a module one, and a route that opened by path
 * would escape about as often as above, so a thousand find it many times over.
 */
const HTTP_OPERATIONS = 1000;
const IN_FLIGHT = 8;

/** Swaps each pair of paths with renameat2(RENAME_EXCHANGE) in a loop until SIGTERM; prints the number of swaps. */
const SWAPPER = `
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
args = [a.encode() for a in sys.argv[1:]]
pairs = list(zip(args[0::2], args[1::2]))
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
swaps = 0
while not stop:
    for a, b in pairs:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
            sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
        swaps += 1
print(swaps, flush=True)
`;

let swapper: ChildProcess | undefined;
let outside: string;
beforeEach(() => {
  outside = mkdtempSync(join(tmpdir(), "sessiond-outside-"));
  mkdirSync(join(outside, "read"));
  writeFileSync(join(outside, "read", "secret.txt"), "top secret");
  mkdirSync(join(outside, "write"));
});
afterEach(async () => {
  if (swapper && swapper.exitCode === null && swapper.signalCode === null) {
    swapper.kill("SIGKILL");
    await once(swapper, "exit");
  }
  swapper = undefined;
  rmSync(outside, { recursive: true, force: true });
});

/**
 * Lays out `<files>/r` (a folder with secret.txt reading "inside") beside `<files>/r-link` (a
 * link to the outside folder with the real secret), and `<files>/w` beside `<files>/w-link` (a
 * link to an empty outside folder), then starts swapping each pair.
 */
async function startAttack(files: string): Promise<{ stop(): Promise<number> }> {
  mkdirSync(join(files, "r"), { recursive: true });
  writeFileSync(join(files, "r", "secret.txt"), "inside");
  symlinkSync(join(outside, "read"), join(files, "r-link"));
  mkdirSync(join(files, "w"), { recursive: true });
  symlinkSync(join(outside, "write"), join(files, "w-link"));
  const args = [join(files, "r"), join(files, "r-link"), join(files, "w"), join(files, "w-link")];
  const child = spawn("/usr/bin/python3", ["-c", SWAPPER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  swapper = child;
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", () => out.startsWith("ready\n") && resolve());
    child.once("exit", () => reject(new Error(`the swapper exited before starting: ${err}`)));
  });
  return {
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = await exited;
      if (code !== 0) throw new Error(`the swapper failed: ${err}`);
      return Number(out.split("\n")[1]);
    },
  };
}

/** Runs `count` operations, `IN_FLIGHT` at a time. */
async function runAll(count: number, operation: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await operation(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Tallies of what the operations answered. */
type Tally = Record<string, number>;
const count = (tally: Tally, outcome: string) => (tally[outcome] = (tally[outcome] ?? 0) + 1);

/** Nothing outside changed: the secret as it was, nothing written beside it or in the write folder. */
function expectOutsideUnchanged(): void {
  expect(readdirSync(join(outside, "read"))).toEqual(["secret.txt"]);
  expect(readFileSync(join(outside, "read", "secret.txt"), "utf8")).toBe("top secret");
  expect(readdirSync(join(outside, "write"))).toEqual([]);
}

describe("a session swapping a folder and a link to outside while artifacts are read and written", () => {
  it(`through the workspaces module: of ${OPERATIONS} reads and ${OPERATIONS} writes, no read returns the outside secret and no write lands outside`, async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-ws-"));
    try {
      const workspaces = new Workspaces(join(home, "workspaces"), 1 << 20);
      const session = { id: randomUUID(), name: "race", runtime_metadata: {} } as unknown as Session;
      await workspaces.ensure(session);
      // Counted before the swapper starts: its pipes are open only while it runs.
      const fdsBefore = readdirSync("/proc/self/fd").length;
      const attack = await startAttack(join(home, "workspaces", "race", "files"));

      const reads: Tally = {};
      const writes: Tally = {};
      await Promise.all([
        runAll(OPERATIONS, async () => {
          try {
            const found = await workspaces.read(session, "files", "r/secret.txt");
            if (Array.isArray(found)) return void count(reads, "listing");
            const chunks: Buffer[] = [];
            const stream = artifactStream(found);
            for await (const chunk of stream) chunks.push(chunk as Buffer);
            if (!stream.closed) await once(stream, "close");
            count(reads, Buffer.concat(chunks).toString());
          } catch (err) {
            count(reads, (err as { code?: string }).code ?? String(err));
          }
        }),
        runAll(OPERATIONS, async (i) => {
          try {
            await workspaces.write(session, "files", `w/upload-${i}.txt`, Readable.from([Buffer.from("pwned")]));
            count(writes, "stored");
          } catch (err) {
            count(writes, (err as { code?: string }).code ?? String(err));
          }
        }),
      ]);
      const swaps = await attack.stop();

      expect(swaps).toBeGreaterThan(0);
      expect(reads["top secret"] ?? 0).toBe(0);
      // Both outcomes happened, so the race really ran; nothing else was answered.
      expect(reads.inside).toBeGreaterThan(0);
      expect(reads.forbidden).toBeGreaterThan(0);
      expect(Object.keys(reads).sort()).toEqual(["forbidden", "inside"]);
      expect(writes.stored).toBeGreaterThan(0);
      expect(writes.forbidden).toBeGreaterThan(0);
      expect(Object.keys(writes).sort()).toEqual(["forbidden", "stored"]);
      expectOutsideUnchanged();
      // Every stored upload is inside the workspace, in the folder swapped about.
      const files = join(home, "workspaces", "race", "files");
      const stored = [...readdirSync(join(files, "r")), ...readdirSync(join(files, "w")), ...readdirSync(join(files, "r-link")), ...readdirSync(join(files, "w-link"))];
      expect(stored.filter((name) => name.startsWith("upload-"))).toHaveLength(writes.stored!);
      expect(readdirSync("/proc/self/fd").length).toBe(fdsBefore);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);

  describe("over HTTP", () => {
    let server: TestServer;
    afterEach(async () => {
      await server?.close();
    });

    it(`on a real server: of ${HTTP_OPERATIONS} downloads and ${HTTP_OPERATIONS} uploads, none returns the outside secret or lands outside`, async () => {
      server = await startServer();
      expect((await server.json({ method: "POST", url: "/sessions/", body: { name: "race" } })).status).toBe(201);
      await server.app.listen({ host: "127.0.0.1", port: 0 });
      const { port } = server.app.server.address() as AddressInfo;
      const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
      const call = (method: string, path: string, body?: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest(
            { host: "127.0.0.1", port, method, path, agent, headers: { authorization: `Bearer ${server.token}`, "content-type": "text/plain" } },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (chunk: string) => (text += chunk));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
          );
          req.on("error", reject);
          req.end(body);
        });
      // The first upload creates the workspace's folders; the attack is laid out inside them.
      expect((await call("PUT", "/sessions/race/artifacts/files/keep.txt", "k")).status).toBe(201);
      const attack = await startAttack(join(server.home, "workspaces", "race", "files"));

      const reads: Tally = {};
      const writes: Tally = {};
      try {
        await Promise.all([
          runAll(HTTP_OPERATIONS, async () => {
            const res = await call("GET", "/sessions/race/artifacts/files/r/secret.txt");
            count(reads, res.status === 200 ? res.body : String(res.status));
          }),
          runAll(HTTP_OPERATIONS, async (i) => {
            const res = await call("PUT", `/sessions/race/artifacts/files/w/upload-${i}.txt`, "pwned");
            count(writes, String(res.status));
          }),
        ]);
      } finally {
        agent.destroy();
      }
      const swaps = await attack.stop();

      expect(swaps).toBeGreaterThan(0);
      expect(reads["top secret"] ?? 0).toBe(0);
      expect(reads.inside).toBeGreaterThan(0);
      expect(reads["403"]).toBeGreaterThan(0);
      expect(Object.keys(reads).sort()).toEqual(["403", "inside"]);
      expect(writes["201"]).toBeGreaterThan(0);
      expect(writes["403"]).toBeGreaterThan(0);
      expect(Object.keys(writes).sort()).toEqual(["201", "403"]);
      expectOutsideUnchanged();
    }, 180_000);
  });
});
