import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RuntimeState, StartSpec } from "../../src/drivers/index.js";
import { silentLog } from "../../src/drivers/log.js";
import { isAlive } from "../../src/drivers/process-tree.js";
import { checkSandbox } from "../../src/drivers/sandbox/index.js";
import { EnvRecords } from "../../src/drivers/shell/env-records.js";
import { LocalTransport } from "../../src/drivers/shell/local-transport.js";
import { envRecordEnd, envRecordPrefix } from "../../src/drivers/shell/markers.js";
import { ansiC } from "../../src/drivers/shell/quote.js";
import { ShellProcess } from "../../src/drivers/shell/shell-process.js";
import { SshTransport } from "../../src/drivers/shell/ssh-transport.js";
import type { RcBuilder, ShellTransport } from "../../src/drivers/shell/transport.js";
import { LiveHarness, eventually, uniqueUidBase } from "./harness.js";
import { TestSshd, sshdMissing } from "./sshd.js";

describe("the records of a state capture", () => {
  const nonce = "0123456789abcdef01234567";
  const record = (line: string) => {
    const bytes = Buffer.from(line, "utf8");
    return Buffer.concat([envRecordPrefix(nonce), Buffer.from(`${bytes.length}\x07`), bytes, envRecordEnd(nonce)]);
  };
  const lines = ['declare -x A="1"', "declare -x B=$'x\\ny'", 'declare -x C="é"'];
  const payload = lines.map((line) => `${line}\n`).join("");
  const stream = Buffer.concat([Buffer.from("job says hi\n"), record(lines[0]!), Buffer.from("tick\n"), record(lines[1]!), record(lines[2]!), Buffer.from("[1]+  Done\n")]);

  /** Feeds `bytes` cut at `cuts`, returning what was handed on and the payload. */
  const feed = (cuts: number[], bytes = stream, maxBytes = 1 << 20) => {
    const outside: Buffer[] = [];
    const records = new EnvRecords(nonce, maxBytes, (data) => outside.push(Buffer.from(data)));
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      records.feed(bytes.subarray(from, cut));
      from = cut;
    }
    records.end();
    return { outside: Buffer.concat(outside).toString("utf8"), payload: records.payload()?.toString("utf8") };
  };

  it("takes the lines and hands on everything between them in order, wherever the reads split them", () => {
    for (let a = 0; a <= stream.length; a++) {
      for (const b of [a, a + 1, a + 7, stream.length - 3]) {
        const cuts = [a, Math.min(Math.max(a, b), stream.length)];
        expect(feed(cuts), `cut at ${cuts}`).toEqual({ outside: "job says hi\ntick\n[1]+  Done\n", payload });
      }
    }
  });

  it("is spoiled by a write inside a record, dropping that record's bytes but nothing outside", () => {
    const second = record(lines[1]!);
    const cut = Buffer.concat([record(lines[0]!), Buffer.from("before\n"), second.subarray(0, 40), Buffer.from("inside\n"), second.subarray(40), Buffer.from("after\n"), record(lines[2]!)]);
    for (let a = 0; a <= cut.length; a++) expect(feed([a], cut), `cut at ${a}`).toEqual({ outside: "before\nafter\n", payload: undefined });
  });

  it("is spoiled by a record that does not end, or lines bigger than allowed", () => {
    const whole = record(lines[0]!);
    expect(feed([], whole.subarray(0, whole.length - 1)).payload).toBeUndefined();
    expect(feed([], stream, Buffer.byteLength(payload) - 4).payload).toBeUndefined();
    const small = new EnvRecords(nonce, 10, () => {});
    small.feed(stream);
    expect([small.spoiled, small.tooBig]).toEqual([true, true]);
    expect(feed([], Buffer.alloc(0)).payload).toBe("");
  });

  it("refuses a record on its stated length, before holding a byte of it, and reads on after it", () => {
    const records = new EnvRecords(nonce, 1 << 20, () => {});
    // A shell that says it will send 9 GB (a function shadowing printf can read the nonce).
    records.feed(Buffer.concat([envRecordPrefix(nonce), Buffer.from("9999999999\x07")]));
    expect(records.tooBig).toBe(true);
    const chunk = Buffer.alloc(1 << 20, "A");
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 64; i++) records.feed(chunk);
    // 64 MB fed, none of it kept (a held record would keep every chunk).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    records.feed(Buffer.concat([envRecordEnd(nonce), record(lines[0]!)]));
    records.end();
    expect(records.payload()).toBeUndefined();
  });

  it("counts each record's markers against the cap, so that empty records are not free", () => {
    const empty = record("");
    const markers = envRecordPrefix(nonce).length + envRecordEnd(nonce).length;
    const records = new EnvRecords(nonce, 100 * markers, () => {});
    for (let i = 0; i < 100; i++) records.feed(empty);
    expect(records.tooBig).toBe(false);
    records.feed(empty);
    expect(records.tooBig).toBe(true);
  });
});

/** Where a shell runs, and how its transport is opened. */
interface Target {
  readonly name: string;
  open(spec: StartSpec, rc: RcBuilder): Promise<ShellTransport>;
}

const sandbox = checkSandbox();
const local: Target = { name: "local", open: (spec, rc) => LocalTransport.start(spec, "bash", rc, silentLog) };
const missingSshd = sshdMissing();
let sshd: TestSshd | undefined;
const ssh: Target = {
  name: "ssh",
  open: (spec, rc) =>
    SshTransport.start(
      { host: "127.0.0.1", port: sshd!.port, user: sshd!.user, privateKey: sshd!.privateKey, hostKeySha256: sshd!.hostKeySha256, runtimeDir: sshd!.remoteRuntimeDir },
      { shellPath: "bash", cwd: spec.cwd, env: spec.env, cols: spec.cols, rows: spec.rows, term: "xterm-256color", readyTimeoutMs: spec.limits.startTimeoutMs },
      rc,
      silentLog,
    ),
};

/** Lets a test act on what goes to the shell and what comes back, as the transport carries it. */
interface Hooks {
  send?: (bytes: Buffer, forward: (bytes: Buffer) => void) => void;
  data?: (bytes: Buffer, forward: (bytes: Buffer) => void) => void;
}

function hooked(transport: ShellTransport, hooks: Hooks): ShellTransport {
  return new Proxy(transport, {
    get(target, key) {
      if (key === "send") return (bytes: Buffer) => (hooks.send ? hooks.send(bytes, (b) => target.send(b)) : target.send(bytes));
      if (key === "onData") return (listener: (data: Buffer) => void) => target.onData((d) => (hooks.data ? hooks.data(d, listener) : listener(d)));
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe.each([local, ...(missingSshd ? [] : [ssh])])("state captures of a $name shell beside background jobs", (target) => {
  let dir: string;
  let proc: ShellProcess | undefined;
  const hooks: Hooks = {};
  const uid = uniqueUidBase();

  beforeAll(async () => {
    if (target === ssh) {
      sshd = new TestSshd();
      await sshd.start();
    }
  });
  afterAll(async () => {
    if (target === ssh) await sshd?.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sessiond-state-capture-"));
    if (target === local && sandbox.ok) chownSync(dir, uid, uid);
    hooks.send = undefined;
    hooks.data = undefined;
  });
  afterEach(async () => {
    if (proc) {
      await proc.stop(300);
      expect(isAlive(proc.pid)).toBe(false);
    }
    proc = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (): Promise<ShellProcess> => {
    const spec: StartSpec = {
      sessionId: `state-capture-${target.name}`,
      sessionName: "state-capture",
      server: { target: target.name },
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8", KEPT: "kept" },
      cols: 80,
      rows: 24,
      runtimeDir: mkdtempSync(join(dir, "run-")),
      limits: { startTimeoutMs: 30_000, interruptGraceMs: 2_000, maxProcesses: 0, cgroup: false, memoryBytes: 0, cpus: 0, totalMemoryBytes: 0, fileBytes: 0, stopGraceMs: 300 },
      ...(target === local && sandbox.ok ? { sandbox: { tools: sandbox.tools, uid, gid: uid, network: true, workspace: dir, readOnlyPaths: [] } } : {}),
    };
    proc = await ShellProcess.start(spec, async (rc) => hooked(await target.open(spec, rc), hooks), silentLog);
    return proc;
  };
  const exec = (shell: ShellProcess, input: string) => shell.exec({ input, maxOutputBytes: 1 << 20 });
  /** Everything the terminal tap shows from now on. */
  const watch = (shell: ShellProcess) => {
    const seen: Buffer[] = [];
    shell.terminal.onData((data) => seen.push(Buffer.from(data)));
    return () => Buffer.concat(seen).toString("utf8");
  };

  it("shows what a `cmd &` job prints during a capture, counts it as activity, and never reads it as the environment", async () => {
    const shell = await start();
    const baseline: RuntimeState = await shell.captureState();
    expect(baseline.env.KEPT).toBe("kept");
    const shown = watch(shell);
    // A job of the shell's own (plain `&`, not sessiond's background exec): its stdout is the
    // terminal and its stderr the pipe. It prints once `go` appears, then leaves `printed`.
    await exec(shell, `(while [ ! -e go ]; do sleep 0.01; done; echo 'declare -x FROM_THE_JOB="out"'; echo job-stderr >&2; : > printed) &`);
    await exec(shell, "true");
    await shell.captureState();
    // Execs and captures alone are not activity.
    const outputs = shell.outputsBetweenExecs!;
    await exec(shell, "echo plain");
    expect(shell.outputsBetweenExecs).toBe(outputs);
    // The next line sent, the capture's, is held back until the job has printed: its output
    // arrives while the capture runs, before the command does.
    hooks.send = (bytes, forward) => {
      hooks.send = undefined;
      writeFileSync(join(dir, "go"), "");
      void eventually(() => existsSync(join(dir, "printed")), 10_000, "the job to print").then(() => forward(bytes));
    };
    const state = await shell.captureState();
    expect(hooks.send).toBeUndefined();
    expect(state).toEqual(baseline);
    await eventually(() => shown().includes('declare -x FROM_THE_JOB="out"\r\n'), 5000, "the job's stdout on the tap");
    await eventually(() => shown().includes("job-stderr"), 5000, "the job's stderr on the tap");
    expect(shell.outputsBetweenExecs).toBeGreaterThan(outputs);
    expect(shown()).not.toContain("KEPT");
  });

  it("reads whole records only: a job's write between two is shown as its own, one inside a record has the state read again", async () => {
    const shell = await start();
    const baseline = await shell.captureState();
    const shown = watch(shell);
    let captures = 0;
    hooks.send = (bytes, forward) => {
      if (bytes.includes("__sd_env")) captures++;
      forward(bytes);
    };
    /** Puts `text` where `where` first matches what the terminal shows, as a job's write landing there. */
    const inject = (where: RegExp, text: string) => {
      let done = false;
      hooks.data = (bytes, forward) => {
        const match = done ? null : where.exec(bytes.toString("latin1"));
        if (!match) return forward(bytes);
        done = true;
        const at = match.index + match[0].length;
        forward(Buffer.concat([bytes.subarray(0, at), Buffer.from(text), bytes.subarray(at)]));
      };
      return () => done;
    };
    // Among the bytes of a variable's line: they cannot be told apart, so neither is shown.
    let injected = inject(/(?=declare -x )/, 'declare -x INSIDE="by a job"\n');
    expect(await shell.captureState()).toEqual(baseline);
    expect(injected()).toBe(true);
    expect(captures).toBe(2);
    // Right after a record's end marker: between two records.
    injected = inject(/\x1b\]6973;env;[0-9a-f]+\x07/, 'declare -x BETWEEN="by a job"\n');
    expect(await shell.captureState()).toEqual(baseline);
    expect(injected()).toBe(true);
    expect(captures).toBe(3);
    await eventually(() => shown().includes('declare -x BETWEEN="by a job"\r\n'), 5000, "the job's write on the tap");
    expect(shown()).not.toContain("INSIDE");
    expect(shown()).not.toContain("KEPT");
  });

  it("leaves $? as the last exec left it", async () => {
    const shell = await start();
    await exec(shell, "(exit 3)");
    await shell.captureState();
    expect((await exec(shell, "echo $?")).stdout.toString()).toBe("3\n");
  });

  it("reads values exactly, whatever their bytes", async () => {
    const shell = await start();
    const value = `é ü ${"long ".repeat(600)}$'"\\\x01\ttab\nline`;
    await exec(shell, `export ODD=${ansiC(value)}`);
    const state = await shell.captureState();
    expect(state.env.ODD).toBe(value);
    expect(state.env.KEPT).toBe("kept");
  });
});

describe("a state capture the session holds up", () => {
  let h: LiveHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("is interrupted after interruptGraceMs, as an exec past its timeout, and the execs behind it run", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "held" });
    // A function shadowing printf holds every capture (it runs printf with the record format).
    await h.live.exec("held", `printf() { if [[ \${1-} == *'env;%s;%s'* ]]; then sleep 1000; fi; builtin printf "$@"; }`);
    // `export` makes a capture run next, ahead of the exec after it.
    expect((await h.live.exec("held", "export HELD=1")).status).toBe("ok");
    const after = await h.live.exec("held", "echo after", { timeout_ms: 10_000 });
    expect(after).toMatchObject({ status: "ok", stdout: "after\n" });
  });

  it("says once, not on every attempt, that captures keep failing", async () => {
    h = new LiveHarness();
    const warnings: string[] = [];
    await h.live.close();
    h.live = h.openLive({ log: { ...silentLog, warn: (_details, message) => void warnings.push(message) } });
    await h.live.start({ kind: "shell", name: "noisy" });
    // Every capture fails at once: the function it runs to read the variables is disabled.
    await h.live.exec("noisy", "enable -n mapfile");
    // Each export's capture runs ahead of the exec after it: all three have failed once `true` is done.
    for (let i = 0; i < 3; i++) await h.live.exec("noisy", `export N${i}=1`);
    await h.live.exec("noisy", "true");
    expect(warnings.filter((m) => m.startsWith("could not save a live session's state"))).toHaveLength(1);
  });

  it("ends a shell that never answers it (its nonce made readonly): the session crashes instead of waiting for good", async () => {
    h = new LiveHarness();
    const session = await h.live.start({ kind: "shell", name: "wedged" });
    await h.live.exec("wedged", "readonly __sd_n");
    // The exec itself cannot end either (its end marker carries the old nonce): it times out.
    await h.live.exec("wedged", "export WEDGED=1", { timeout_ms: 500 }).catch(() => undefined);
    await eventually(async () => (await h!.manager.get(session.id)).status === "crashed", 15_000, "the shell to be ended");
  });
});

