import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { checkSandbox } from "../../src/drivers/sandbox/index.js";
import { compiledCli } from "../helpers/compiled-tree.js";
import { processesOfUid, uniqueUidBase } from "../helpers/sandbox-pids.js";

/**
 * The sandbox as an attacker meets it: a real `sessiond serve` (with a secret in its environment,
 * its token, database and socket in its data dir, and a second session's workspace holding a
 * secret file), and code in shell, python and typescript sessions trying to reach any of it.
 */

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const sandbox = checkSandbox();
if (!sandbox.ok) {
  if (process.env.CI === "true") throw new Error(`the sandbox cannot start here, and CI must test it: it lacks ${sandbox.missing}`);
  console.warn(`sandbox attacks skipped: the sandbox cannot start here (it lacks ${sandbox.missing})`);
}

const ROOT = new URL("../../", import.meta.url).pathname;
const SECRET = `server-secret-${randomBytes(8).toString("hex")}`;
const MAX_PROCESSES = 64;
const MEMORY_BYTES = 256 * 1024 * 1024;
/** Its own uids: the leftover checks look for processes by uid, and other tests' servers run beside it. */
const UID_BASE = uniqueUidBase();

let home: string;
let server: ChildProcess;
let token: string;
let socket: string;
const logs: string[] = [];

/** One request to the server over its Unix socket. */
function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      { socketPath: socket, method, path, headers: payload ? { "content-type": "application/json" } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function start(kind: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call("POST", "/sessions/", { kind, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function exec(id: string, input: string, timeoutMs = 30_000): Promise<{ stdout: string; stderr: string; exit_code: number | null; status: string }> {
  const res = await call("POST", `/sessions/${id}/exec`, { input, timeout_ms: timeoutMs });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Everything a session printed, for asserting that no secret came out. */
const both = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

describe.runIf(sandbox.ok)("a sandboxed session attacking the server", () => {
  let victimFile: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "sessiond-attack-"));
    socket = join(home, "sessiond.sock");
    writeFileSync(
      join(home, "config.json"),
      JSON.stringify({ shellMaxProcesses: MAX_PROCESSES, sessionMemoryBytes: MEMORY_BYTES, sandboxUidBase: UID_BASE }),
    );
    server = spawn(process.execPath, [compiledCli(), "serve", "--port", "0", "--config", join(home, "config.json")], {
      cwd: ROOT,
      env: { ...process.env, SESSIOND_HOME: home, ENABLE_SESSIONS: "true", SESSIOND_ATTACK_TEST_SECRET: SECRET },
      stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout!.on("data", (c: Buffer) => logs.push(c.toString()));
    server.stderr!.on("data", (c: Buffer) => logs.push(c.toString()));
    for (let i = 0; i < 600; i++) {
      const up = await call("GET", "/healthz").catch(() => undefined);
      if (up?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    token = readFileSync(join(home, "token"), "utf8").trim();
    // Another tenant's session and a secret in its workspace.
    const victim = await start("shell", { name: "victim" });
    await exec(victim, "echo victim-secret > files/secret.txt");
    victimFile = join(home, "workspaces", "victim", "files", "secret.txt");
    expect(readFileSync(victimFile, "utf8")).toBe("victim-secret\n");
  });

  afterAll(async () => {
    server?.kill("SIGTERM");
    await new Promise((r) => (server?.exitCode !== null ? r(undefined) : server.once("exit", r)));
    rmSync(home, { recursive: true, force: true });
  });

  it("from a shell: cannot read the token, the database, another workspace, the server's environment or PID 1's, nor talk to the socket", async () => {
    const id = await start("shell");
    const serverPid = server.pid!;
    const attempts = [
      `cat ${home}/token`,
      `head -c 64 ${home}/sessiond.db | od -c | head -2`,
      `cat ${victimFile}`,
      `ls ${home}/workspaces`,
      `cat /proc/${serverPid}/environ`,
      `cat /proc/1/environ`,
      `tr '\\0' '\\n' < /proc/$PPID/environ`,
      `env`,
      `ps -eo pid,uid,args`,
      `curl -s --max-time 5 --unix-socket ${socket} http://localhost/sessions/`,
    ];
    for (const attempt of attempts) {
      const out = both(await exec(id, attempt));
      expect(out, attempt).not.toContain(token);
      expect(out, attempt).not.toContain(SECRET);
      expect(out, attempt).not.toContain("victim-secret");
      expect(out, attempt).not.toContain("SQLite format");
    }
    expect((await exec(id, `cat ${home}/token`)).exit_code).not.toBe(0);
    expect((await exec(id, `curl -s --max-time 5 --unix-socket ${socket} http://localhost/healthz`)).exit_code).not.toBe(0);
    // It runs as a uid of its own, with no capabilities, and sees only its own processes.
    const id_ = await exec(id, "id -u; grep CapEff /proc/self/status; ps -e --no-headers | wc -l");
    const [uid, caps, count] = id_.stdout.trim().split("\n");
    expect(Number(uid)).toBeGreaterThanOrEqual(UID_BASE);
    expect(caps).toMatch(/CapEff:\s+0+$/);
    expect(Number(count)).toBeLessThan(10);
    // The system is read-only, the workspace and /tmp are its own.
    expect((await exec(id, "touch /usr/bin/x")).exit_code).not.toBe(0);
    expect((await exec(id, "touch files/mine /tmp/mine && echo ok")).stdout).toBe("ok\n");
  });

  it("from python: the same files, the socket and the environments are out of reach", async () => {
    const id = await start("python");
    const reads = [`${home}/token`, `${home}/sessiond.db`, victimFile, `/proc/1/environ`, `/proc/${server.pid}/environ`];
    for (const path of reads) {
      const r = await exec(id, `open(${JSON.stringify(path)}, "rb").read()[:200]`);
      expect(r.status, path).toBe("error");
      // Refused by the sandbox, not failed for another reason.
      expect(r.stderr, path).toMatch(/FileNotFoundError|PermissionError/);
      expect(both(r), path).not.toContain(SECRET);
      expect(both(r), path).not.toContain("victim-secret");
    }
    const connect = await exec(id, `import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(socket)})`);
    expect(connect.status).toBe("error");
    expect(connect.stderr).toMatch(/FileNotFoundError|PermissionError|ConnectionRefusedError/);
    // Nothing the server holds open reaches it: no terminal of another session (which it could type into).
    const fds = await exec(id, 'import os\nprint([os.readlink(f"/proc/self/fd/{f}") for f in os.listdir("/proc/self/fd")])');
    expect(fds.stdout).not.toMatch(/ptmx|\/dev\/pts/);
    const env = await exec(id, "import os\nprint(dict(os.environ))");
    expect(env.stdout).not.toContain(SECRET);
    expect(env.stdout).not.toContain(token);
  });

  it("from typescript: the same files, the socket and the environments are out of reach", async () => {
    const id = await start("typescript");
    // Static imports: a typescript cell has no dynamic import().
    expect((await exec(id, 'import * as fs from "node:fs";\nimport * as net from "node:net";')).status).toBe("ok");
    const reads = [`${home}/token`, `${home}/sessiond.db`, victimFile, `/proc/1/environ`, `/proc/${server.pid}/environ`];
    for (const path of reads) {
      const r = await exec(id, `fs.readFileSync(${JSON.stringify(path)}, "latin1").slice(0, 200)`);
      expect(r.status, path).toBe("error");
      expect(r.stderr, path).toMatch(/ENOENT|EACCES|EPERM/);
      expect(both(r), path).not.toContain(SECRET);
      expect(both(r), path).not.toContain("victim-secret");
    }
    const connect = await exec(
      id,
      `await new Promise((resolve, reject) => net.connect(${JSON.stringify(socket)}).on("connect", resolve).on("error", reject))`,
    );
    expect(connect.status).toBe("error");
    expect(connect.stderr).toMatch(/ENOENT|EACCES|ECONNREFUSED/);
    expect((await exec(id, "JSON.stringify(process.env)")).stdout).not.toContain(SECRET);
    const fds = await exec(id, `fs.readdirSync("/proc/self/fd").map((f) => { try { return fs.readlinkSync("/proc/self/fd/" + f); } catch { return ""; } }).join(" ")`);
    expect(fds.stdout).not.toMatch(/ptmx|\/dev\/pts/);
  });

  it("runs nothing on the host from a start request's env: BASH_ENV and LD_PRELOAD reach only the program inside", async () => {
    // A script the attacker controls, in its own workspace, that would leave a mark on the host.
    const own = await start("shell");
    const workspace = (await call("GET", `/sessions/${own}`)).body.runtime_metadata.workspace as string;
    const mark = join(home, "pwned");
    await exec(own, `printf 'touch ${mark}\\n' > files/evil.sh; chmod +x files/evil.sh`);
    expect(readFileSync(join(workspace, "files", "evil.sh"), "utf8")).toBe(`touch ${mark}\n`);
    const env = { BASH_ENV: join(workspace, "files", "evil.sh"), ENV: join(workspace, "files", "evil.sh"), LD_PRELOAD: join(workspace, "files", "none.so") };
    for (const kind of ["shell", "python", "typescript"]) {
      const id = await start(kind, { env });
      expect(existsSync(mark), kind).toBe(false);
      // The program itself has them, as asked.
      const seen = await exec(id, kind === "shell" ? "echo $BASH_ENV" : kind === "python" ? "import os\nprint(os.environ['BASH_ENV'])" : "process.env.BASH_ENV");
      expect(seen.stdout, kind).toContain("evil.sh");
    }
  });

  it("caps a fork of 1,000 processes at the session's limit, keeps the server answering, and stop leaves nothing", async () => {
    const id = await start("shell");
    // Forked from python: bash would retry every refused fork for seconds.
    const forks = [
      "import os, time",
      "n = 0",
      "for i in range(1000):",
      "    try:",
      "        if os.fork() == 0:",
      "            time.sleep(60)",
      "            os._exit(0)",
      "        n += 1",
      "    except OSError:",
      "        pass",
      "print(n)",
    ].join("\n");
    const r = await exec(id, `python3 -c '${forks}'`, 60_000);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
    expect(Number(r.stdout.trim())).toBeLessThan(MAX_PROCESSES);
    expect((await call("GET", "/healthz")).status).toBe(200);
    const uid = (await call("GET", `/sessions/${id}`)).body.runtime_metadata.sandbox_uid as number;
    expect((await call("POST", `/sessions/${id}/stop`)).status).toBe(200);
    expect(processesOfUid(uid)).toEqual([]);
  });

  it("kills a python session that allocates past its memory limit and says so, the server up throughout", async () => {
    const id = await start("python");
    let healthy = true;
    const probe = setInterval(() => void call("GET", "/healthz").then((r) => (healthy &&= r.status === 200), () => (healthy = false)), 20);
    const r = await exec(id, `x = bytearray(${2 * MEMORY_BYTES})\nx[::4096] = b"a" * len(x[::4096])`);
    clearInterval(probe);
    expect(r.status).not.toBe("ok");
    expect(healthy).toBe(true);
    let session: any;
    for (let i = 0; i < 100; i++) {
      session = (await call("GET", `/sessions/${id}`)).body;
      if (session.status === "crashed") break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(session.status).toBe("crashed");
    const events = (await call("GET", `/sessions/${id}/events`)).body;
    const crash = (Array.isArray(events) ? events : events.items).filter((e: any) => e.type === "crash").at(-1);
    expect(crash.data.reason).toMatch(/memory limit/);
  });

  it("kills at stop what python and typescript sessions started in a session of their own (setsid), checked in /proc", async () => {
    for (const [kind, spawnDaemon] of [
      ["python", `import subprocess\nsubprocess.Popen(["setsid", "sleep", "4321"], start_new_session=True).pid`],
      ["typescript", `import { spawn } from "node:child_process";\nspawn("setsid", ["sleep", "4321"], { detached: true, stdio: "ignore" }).unref()`],
    ] as const) {
      const id = await start(kind);
      expect((await exec(id, spawnDaemon)).status, kind).toBe("ok");
      const uid = (await call("GET", `/sessions/${id}`)).body.runtime_metadata.sandbox_uid as number;
      const daemons = () => processesOfUid(uid).filter((pid) => commandOf(pid) === "sleep 4321");
      await waitFor(() => daemons().length > 0);
      expect(daemons(), kind).toHaveLength(1);
      expect((await call("POST", `/sessions/${id}/stop`)).status).toBe(200);
      expect(processesOfUid(uid), kind).toEqual([]);
    }
  });

  it("cuts a session off the network when it asks (network: false)", async () => {
    const id = await start("shell", { network: false });
    const r = await exec(id, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
    expect(r.stdout.trim().split("\n")).toEqual(["lo"]);
    expect((await call("GET", `/sessions/${id}`)).body.runtime_metadata.network).toBe(false);
  });
});

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
}

