import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore, readOwnerRecord } from "../../src/store/index.js";
import { compiledCli, compiledFixture } from "../helpers/compiled-tree.js";
import { type LiveNode, startNode } from "../helpers/run-node.js";
import { tempHome } from "../helpers/temp-home.js";

/**
 * One owner per data dir (DESIGN.md §6), from outside: real processes — programs using the
 * embedded API, `sessiond serve`, CLI commands — on one data dir, writing at once, killed with
 * SIGKILL or stopped with SIGSTOP. Every acknowledged write must be in the store afterwards, no
 * process may read an acknowledged write stale, and no write may fail for any reason but the
 * owner going away under it.
 */

// Each test runs several Node processes.
vi.setConfig({ testTimeout: 180_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
/** The programs and commands run as they ship: compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const WRITER = compiledFixture("test/sdk/fixtures/embedded-writer.ts");
const CLI = compiledCli();
/**
 * Fast commits (a killed process loses nothing in WAL mode with NORMAL; only power loss would), quick
 * owner checks, and port 0 for a server a command starts: 8011 may be taken by another server of the machine.
 */
const CHILD_ENV = { SESSIOND_SQLITE_SYNCHRONOUS: "normal", SESSIOND_OWNER_LOCK_CHECK_MS: "100", SESSIOND_PORT: "0" };

type Child = LiveNode;

const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    }
  }
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function newHome(): string {
  const { home, remove } = tempHome();
  cleanups.push(remove);
  return home;
}

function start(args: string[], env: Record<string, string> = {}): Child {
  const running = startNode(args, { cwd: ROOT, env: { ...CHILD_ENV, ...env } });
  children.push(running.child);
  return running;
}

function writer(home: string, name: string, peer: string | undefined, writes: number | "forever", env: Record<string, string> = {}): Child & { acks: string } {
  const acks = join(home, `${name}.acks`);
  return { ...start([WRITER, home, acks, peer ? join(home, `${peer}.acks`) : "-", String(writes)], { SESSIOND_HOME: home, ...env }), acks };
}

function serve(home: string): Child {
  return start([CLI, "serve", "--port", "0"], { SESSIOND_HOME: home });
}

async function until(what: string, condition: () => boolean, child?: Child): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${child ? `:\n${child.lines.join("\n")}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function ackCount(path: string): number {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").length - 1 : 0;
}

async function kill(c: Child, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  c.child.kill(signal);
  await c.exited;
}

/** Lines a writer printed that no correct run prints: stale reads, and errors other than the owner going away mid-write. */
function faults(c: Child): string[] {
  return c.lines.filter((l) => l.startsWith("stale") || (l.startsWith("error") && !l.startsWith("error owner_unreachable")) || /UNIQUE|SQLITE/.test(l));
}

/** Every acknowledged write of these ack files is in the store: the event at its seq, the context at least at its n. */
function assertDurable(home: string, ackFiles: string[]): number {
  const config = resolveConfig({ env: { HOME: home }, flags: { home } });
  const manager = new SessionManager({ store: openSqliteStore(config), config });
  let checked = 0;
  try {
    for (const file of ackFiles) {
      if (!existsSync(file)) continue;
      const contextAcked = new Map<string, number>();
      for (const line of readFileSync(file, "utf8").split("\n").slice(0, -1)) {
        const [kind, id, value] = line.split(" ") as [string, string, string];
        if (kind === "ev") {
          const [event] = manager.listEventsSync(id, { after_seq: Number(value) - 1, to_seq: Number(value) });
          expect(event, `${line} is in the store`).toMatchObject({ seq: Number(value), type: "note" });
        } else {
          contextAcked.set(id, Math.max(contextAcked.get(id) ?? 0, Number(value)));
        }
        checked++;
      }
      for (const [id, n] of contextAcked) expect(manager.getSync(id).context.n as number).toBeGreaterThanOrEqual(n);
    }
  } finally {
    manager.closeSync();
  }
  return checked;
}

describe("one owner per data dir", () => {
  it("embedded + embedded: the second writes through the first; when the owner is killed, it takes the data dir over", async () => {
    const home = newHome();
    const a = writer(home, "a", "b", "forever");
    await until("a to own the data dir", () => a.lines.includes("owner yes"), a);
    const b = writer(home, "b", "a", "forever");
    await until("b to start as a client", () => b.lines.includes("owner no"), b);
    await until("both to write", () => ackCount(a.acks) > 40 && ackCount(b.acks) > 40, b);
    expect(readOwnerRecord(join(home, "server.pid"))).toMatchObject({ pid: a.child.pid, owner: "embedded" });

    await kill(a);
    const afterKill = ackCount(b.acks);
    await until("b to go on writing as the new owner", () => ackCount(b.acks) > afterKill + 40, b);
    expect(readOwnerRecord(join(home, "server.pid"))).toMatchObject({ pid: b.child.pid, owner: "embedded" });
    await kill(b);

    expect([...faults(a), ...faults(b)]).toEqual([]);
    expect(assertDurable(home, [a.acks, b.acks])).toBeGreaterThan(160);
  });

  it("embedded + embedded: a client killed mid-write costs the owner nothing", async () => {
    const home = newHome();
    const a = writer(home, "a", "b", "forever");
    await until("a to own the data dir", () => a.lines.includes("owner yes"), a);
    const b = writer(home, "b", "a", "forever");
    await until("both to write", () => ackCount(a.acks) > 40 && ackCount(b.acks) > 40, b);
    await kill(b);
    const afterKill = ackCount(a.acks);
    await until("a to go on", () => ackCount(a.acks) > afterKill + 40, a);
    await kill(a);
    expect([...faults(a), ...faults(b)]).toEqual([]);
    assertDurable(home, [a.acks, b.acks]);
  });

  it("embedded + server: a program started while `sessiond serve` runs writes through it, and takes over when the server is killed", async () => {
    const home = newHome();
    const server = serve(home);
    await until("the server to listen", () => server.lines.some((l) => l.includes("sessiond listening")), server);
    const w = writer(home, "w", undefined, "forever");
    await until("the program to write as a client", () => w.lines.includes("owner no") && ackCount(w.acks) > 40, w);
    // The server sees the program's sessions: they are its own.
    const listed = JSON.parse(execFileSync(process.execPath, [CLI, "list", "--json"], { cwd: ROOT, env: { ...process.env, SESSIOND_HOME: home } }).toString());
    expect(listed.items ?? listed).toHaveLength(2);

    await kill(server);
    const afterKill = ackCount(w.acks);
    await until("the program to go on as the owner", () => ackCount(w.acks) > afterKill + 40, w);
    expect(readOwnerRecord(join(home, "server.pid"))).toMatchObject({ pid: w.child.pid, owner: "embedded" });
    await kill(w);
    expect(faults(w)).toEqual([]);
    assertDurable(home, [w.acks]);
  });

  it("server + embedded owner: the server refuses in one line naming the owner, the CLI is served by the program, and after it ends the CLI starts a server", async () => {
    const home = newHome();
    const release = join(home, "release");
    const w = writer(home, "w", undefined, 200, { HOLD_UNTIL: release });
    await until("the program to write its sessions", () => w.lines.includes("owner yes") && w.lines.includes("written"), w);
    await until("its socket", () => existsSync(join(home, "sessiond.sock")), w);

    const second = serve(home);
    expect(await second.exited).toBe(1);
    expect(second.lines).toEqual([expect.stringMatching(new RegExp(`^sessiond: could not start: ${home} is owned by pid ${w.child.pid} \\(.*embedded\\)`))]);

    const cli = (args: string[]) => execFileSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...CHILD_ENV, SESSIOND_HOME: home } }).toString();
    const listed = JSON.parse(cli(["list", "--json"]));
    expect((listed.items ?? listed).length).toBe(2);
    const status = JSON.parse(cli(["server", "status", "--json"]));
    expect(status).toMatchObject({ running: true, pid: w.child.pid, owner: "embedded" });
    expect(() => execFileSync(process.execPath, [CLI, "server", "stop"], { cwd: ROOT, env: { ...process.env, SESSIOND_HOME: home }, stdio: "pipe" })).toThrow(/embedded API/);

    writeFileSync(release, "");
    expect(await w.exited).toBe(0);
    expect(w.lines.at(-1)).toBe("done");
    expect(existsSync(join(home, "sessiond.sock"))).toBe(false);
    // The program is gone: the next command starts a server, which has every write.
    expect(JSON.parse(cli(["list", "--json"])).items.length).toBe(2);
    const after = JSON.parse(cli(["server", "status", "--json"]));
    expect(after).toMatchObject({ running: true, owner: "server" });
    cli(["server", "stop"]);
    expect(faults(w)).toEqual([]);
    expect(assertDurable(home, [w.acks])).toBe(400);
  });

  it("of processes starting at once, exactly one becomes the owner", async () => {
    const home = newHome();
    const racers = Array.from({ length: 4 }, (_, i) => writer(home, `r${i}`, undefined, "forever"));
    await until("every racer to start", () => racers.every((r) => r.lines.some((l) => l.startsWith("owner "))));
    const owners = racers.filter((r) => r.lines.find((l) => l.startsWith("owner ")) === "owner yes");
    expect(owners).toHaveLength(1);
    await until("every racer to write", () => racers.every((r) => ackCount(r.acks) > 10));
    await Promise.all(racers.map((r) => kill(r)));
    expect(racers.flatMap(faults)).toEqual([]);
    assertDurable(home, racers.map((r) => r.acks));
  });

  it("an owner that hangs (SIGSTOP): a client's write fails naming its pid after ownerRequestTimeoutMs, and none is written around it", async () => {
    const home = newHome();
    const a = writer(home, "a", undefined, "forever");
    await until("a to own the data dir", () => a.lines.includes("owner yes") && existsSync(join(home, "sessiond.sock")), a);
    const b = writer(home, "b", undefined, "forever", { SESSIOND_OWNER_REQUEST_TIMEOUT_MS: "1500" });
    await until("b to write", () => ackCount(b.acks) > 20, b);

    a.child.kill("SIGSTOP");
    await until("b to give up on the stopped owner", () => b.lines.some((l) => l.startsWith("error owner_unreachable")), b);
    const refused = b.lines.find((l) => l.startsWith("error owner_unreachable"))!;
    expect(refused).toContain(`pid ${a.child.pid}`);
    expect(refused).toMatch(/did not answer within 1500 ms/);
    const whileStopped = ackCount(b.acks);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(ackCount(b.acks)).toBeLessThanOrEqual(whileStopped + 2); // At most the writes in flight when it stopped.

    a.child.kill("SIGCONT");
    await until("b to write again", () => ackCount(b.acks) > whileStopped + 20, b);
    await kill(b);
    await kill(a);
    expect([...faults(a), ...faults(b)]).toEqual([]);
    assertDurable(home, [a.acks, b.acks]);
  });

  it("a lock file and pid file removed by hand: the next process still finds the data dir owned (its owner listens), and the owner puts both back", async () => {
    const home = newHome();
    const a = writer(home, "a", undefined, "forever");
    await until("a to own the data dir", () => a.lines.includes("owner yes") && existsSync(join(home, "sessiond.sock")), a);
    rmSync(join(home, "owner.lock"));
    rmSync(join(home, "server.pid"));
    const b = writer(home, "b", undefined, "forever");
    await until("b to start", () => b.lines.some((l) => l.startsWith("owner ")), b);
    expect(b.lines).toContain("owner no");
    await until("b to write through a", () => ackCount(b.acks) > 20, b);
    await until("the lock file and the record to be back", () => existsSync(join(home, "owner.lock")) && readOwnerRecord(join(home, "server.pid"))?.pid === a.child.pid);
    const server = serve(home);
    expect(await server.exited).toBe(1);
    await Promise.all([kill(a), kill(b)]);
    expect([...faults(a), ...faults(b)]).toEqual([]);
    assertDurable(home, [a.acks, b.acks]);
  });

  it("a data dir on a read-only filesystem: the server and the embedded API name the path and the reason", async () => {
    const home = newHome();
    // The data dir bound read-only into a mount namespace of its own (bubblewrap, as the sandbox uses).
    const wrap = (args: string[]) =>
      spawnSyncText("bwrap", ["--dev-bind", "/", "/", "--ro-bind", home, home, process.execPath, ...args], home);
    const server = wrap([CLI, "serve", "--port", "0"]);
    expect(server.status).toBe(1);
    expect(server.output.trim()).toBe(`sessiond: could not start: cannot use the data dir ${home}: it is on a read-only filesystem`);
    const embedded = wrap([WRITER, home, "/dev/null", "-", "1"]);
    expect(embedded.status).not.toBe(0);
    expect(embedded.output).toContain(`cannot use the data dir ${home}: it is on a read-only filesystem`);
  });
});

function spawnSyncText(command: string, args: string[], home: string): { status: number | null; output: string } {
  try {
    const output = execFileSync(command, args, { cwd: ROOT, env: { ...process.env, SESSIOND_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
    return { status: 0, output: output.toString() };
  } catch (err) {
    const e = err as { status: number | null; stdout: Buffer; stderr: Buffer };
    return { status: e.status, output: `${e.stdout.toString()}${e.stderr.toString()}` };
  }
}
