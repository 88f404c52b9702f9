import { createHash, randomBytes } from "node:crypto";
import { connect as netConnect } from "node:net";
import { constants as osConstants } from "node:os";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import type { ProcessExit, SessionProcess } from "../driver.js";
import type { DriverLog } from "../log.js";
import { spawnFailed } from "./local-transport.js";
import { ansiC } from "./quote.js";
import type { RcBuilder, ShellTransport } from "./transport.js";

/** Where and as whom to connect; the key is in memory only (never logged, never stored in a session). */
/** `SshTarget.hostKeySha256` that accepts any host key (an explicit opt-out of host key checking). */
export const ANY_HOST_KEY = "any";

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: Buffer | string;
  readonly passphrase?: string;
  /**
   * The host key's SHA-256 fingerprint (base64, as `ssh-keygen -l` prints it, with or without
   * `SHA256:`); `"any"` accepts whatever key the host presents (config ssh.acceptUnknownHostKeys).
   */
  readonly hostKeySha256: string;
  /** The folder on the host in which the session's private runtime folder is made (config `ssh.runtimeDir`). */
  readonly runtimeDir: string;
}

/** What the remote shell starts with. */
export interface SshShellSpec {
  readonly shellPath: string;
  /** The remote working directory; the login's home when it does not exist there. */
  readonly cwd: string;
  /** Variables set in the remote shell (the remote login's own PATH, HOME… are kept). */
  readonly env: Readonly<Record<string, string>>;
  readonly cols: number;
  readonly rows: number;
  readonly term: string;
  readonly readyTimeoutMs: number;
}

/** Variables that describe the machine sessiond runs on: the remote login keeps its own. */
const HOST_ONLY_ENV = new Set(["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "MAIL", "PWD", "OLDPWD"]);
/** The remote shell announces its pid with this before it becomes bash. */
const PID_MARKER = /\x1b\]6973;pid;(\d+)\x07/;
/** How often the remote shell looks for its rc while the setup channel writes it. */
const RC_POLL_MS = 20;
/** Command lines listed by processes() are cut here. */
const COMMAND_CHARS = 512;

/**
 * The `ssh` target: the same shell over an ssh2 connection. One connection per session carries
 * the shell's PTY channel (bash started with sessiond's rc, as locally), a channel that reads the
 * remote stderr FIFO (`cat`, which ends when bash does), and short exec channels for signals and
 * process lists (`ps`, `kill`). The connection dropping is the shell's exit (the session crashes).
 */
export class SshTransport implements ShellTransport {
  readonly target = "ssh";
  readonly stderrNeedsPolling = false;
  private dataListener: ((data: Buffer) => void) | undefined;
  private readonly early: Buffer[] = [];
  /** The stderr channel's bytes, held until ShellProcess listens (the shell's ready marker may be among them). */
  private earlyStderr: Buffer[] | undefined = [];
  private stderrListener: (data: Buffer) => void = (data) => this.earlyStderr?.push(data);
  private exitListener: ((exit: ProcessExit) => void) | undefined;
  private exitInfo: ProcessExit | undefined;
  private connected = true;
  private remotePid = 0;

  private constructor(
    private readonly client: Client,
    private readonly shell: ClientChannel,
    private readonly control: RemoteControl,
    private readonly runtimeDir: string,
    private readonly log: DriverLog,
  ) {}

  /**
   * Connects, prepares a private runtime dir on the remote host (the stderr FIFO and the rc),
   * and starts bash on a PTY there.
   * @throws spawn_failed naming what failed (never the key)
   */
  static async start(target: SshTarget, spec: SshShellSpec, rc: RcBuilder, log: DriverLog): Promise<SshTransport> {
    const client = new Client();
    const dir = `${target.runtimeDir.replace(/\/+$/, "")}/sessiond.${randomBytes(9).toString("hex")}`;
    let cleanup: RemoteControl | undefined;
    try {
      await connect(client, target, spec.readyTimeoutMs);
      const exports = Object.entries(spec.env)
        .filter(([name]) => !HOST_ONLY_ENV.has(name))
        .map(([name, value]) => `export ${name}=${ansiC(value)}`);
      const rcText = [...exports, rc({ path: `${dir}/stderr`, drained: false }, `${dir}/state`), ""].join("\n");
      const rcPath = sq(`${dir}/rc`);
      // Three channels at once (a remote login may source slow rc files for each): one prepares
      // the runtime dir — mkdir fails when the name exists, so nobody can have prepared it for
      // us — writes the rc from its stdin and then reads the stderr FIFO; the shell waits for the
      // rc; a plain bash runs sessiond's short commands (signals, process lists) later. The
      // reader removes the folder once bash is gone (its cat sees end-of-file), also when the
      // connection dropped and no one could ask.
      const setup = `umask 077 && mkdir -- ${sq(dir)} && mkfifo -- ${sq(`${dir}/stderr`)} && cat > ${sq(`${dir}/rc.new`)} && mv -- ${sq(`${dir}/rc.new`)} ${rcPath} && { cat ${sq(`${dir}/stderr`)}; rm -rf -- ${sq(dir)}; }`;
      const waits = Math.ceil(spec.readyTimeoutMs / RC_POLL_MS);
      const command = [
        `i=0; while [ ! -e ${rcPath} ]; do [ $i -ge ${waits} ] && exit 97; sleep ${RC_POLL_MS / 1000}; i=$((i+1)); done`,
        `cd -- ${sq(spec.cwd)} 2>/dev/null || cd`,
        "printf '\\033]6973;pid;%s\\007' $$",
        `PROMPT_COMMAND=${sq(`. ${rcPath}`)} exec ${sq(spec.shellPath)} --norc --noprofile --noediting -i`,
      ].join("; ");
      const [stderr, shell, control] = await Promise.all([
        openChannel(client, setup),
        openChannel(client, command, { term: spec.term, cols: spec.cols, rows: spec.rows }),
        RemoteControl.open(client, spec.shellPath),
      ]);
      cleanup = control;
      let setupErrors = "";
      stderr.stderr.on("data", (d: Buffer) => (setupErrors += d.toString("utf8")));
      stderr.on("exit", (code: number | null) => {
        if (code) log.warn({ code, output: setupErrors.slice(0, 2000) }, "could not prepare the remote runtime dir");
      });
      stderr.end(rcText);
      const transport = new SshTransport(client, shell, control, dir, log);
      stderr.on("data", (data: Buffer) => transport.stderrListener(data));
      await transport.wire(spec.readyTimeoutMs);
      return transport;
    } catch (err) {
      await cleanup?.run(`rm -rf -- ${sq(dir)}`).catch(() => {});
      client.end();
      throw isSpawnFailed(err) ? err : spawnFailed(`ssh to ${target.host}:${target.port} failed: ${(err as Error)?.message ?? err}`, err);
    }
  }

  get pid(): number {
    return this.remotePid;
  }

  get details(): Record<string, string | number> {
    return { remote_pid: this.remotePid };
  }

  send(bytes: Buffer): void {
    if (this.connected) this.shell.write(bytes);
  }

  get inputBacklog(): number {
    return this.shell.writableLength;
  }

  discardInput(): void {
    // Written to the channel already: the remote terminal's own Ctrl-C drops what it has not read.
  }

  onData(listener: (data: Buffer) => void): void {
    this.dataListener = listener;
    for (const data of this.early.splice(0)) listener(data);
  }

  onStderr(listener: (data: Buffer) => void): void {
    this.stderrListener = listener;
    const early = this.earlyStderr ?? [];
    this.earlyStderr = undefined;
    for (const data of early) listener(data);
  }

  onExit(listener: (exit: ProcessExit) => void): void {
    this.exitListener = listener;
    if (this.exitInfo) listener(this.exitInfo);
  }

  drainStderr(): number {
    return 0;
  }

  resize(cols: number, rows: number): void {
    if (this.connected) this.shell.setWindow(rows, cols, 0, 0);
  }

  pause(): void {
    this.shell.pause();
  }

  resume(): void {
    this.shell.resume();
  }

  shellInForeground(): boolean | undefined {
    return undefined;
  }

  async killForeground(): Promise<boolean> {
    const pid = this.remotePid;
    const out = await this.remote(`t=$(ps -o tpgid= -p ${pid} | tr -d ' '); if [ -n "$t" ] && [ "$t" -gt 0 ] && [ "$t" != ${pid} ]; then kill -INT ${pid}; kill -KILL -- -"$t" && echo killed; fi`);
    return out.includes("killed");
  }

  async signalAll(signal: "SIGSTOP" | "SIGCONT"): Promise<void> {
    const sig = signal.slice(3);
    const pid = this.remotePid;
    const others = `for p in $(${membersScript(pid)}); do kill -${sig} "$p" 2>/dev/null; done`;
    // As locally: the shell stops first and continues last, so it never sees a job stop.
    await this.remote(sig === "STOP" ? `kill -STOP ${pid}; ${others}` : `${others}; kill -CONT ${pid}`);
  }

  async processes(): Promise<SessionProcess[]> {
    const pid = this.remotePid;
    const out = await this.remote(`ps -e -o pid= -o pgid= -o ppid= -o sid= -o stat= -o args= | awk '$4 == ${pid} && $1 != ${pid}'`);
    const list: SessionProcess[] = [];
    for (const line of out.split("\n")) {
      const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+(\S+)\s+(.*)$/.exec(line);
      if (!m) continue;
      list.push({ pid: Number(m[1]), pgid: Number(m[2]), ppid: Number(m[3]), state: m[4]!.charAt(0), command: m[5]!.slice(0, COMMAND_CHARS) });
    }
    // The ps and awk of this very query are not in the shell's session: nothing to filter out.
    return list;
  }

  async signalProcess(pid: number, signal: NodeJS.Signals): Promise<boolean> {
    const member = (await this.processes()).find((p) => p.pid === pid);
    if (!member) return false;
    await this.remote(`kill -${signal.slice(3)} -- ${member.pgid === pid ? `-${pid}` : pid}`);
    return true;
  }

  async fileSizes(paths: readonly string[]): Promise<number[]> {
    if (!paths.length) return [];
    const out = await this.remote(paths.map((path) => `stat -c %s -- ${sq(path)} 2>/dev/null || echo -1`).join("; "));
    const sizes = out.trim().split("\n").map(Number);
    return paths.map((_, i) => (Number.isInteger(sizes[i]) ? sizes[i]! : -1));
  }

  async terminate(graceMs: number, leaderSignal: NodeJS.Signals): Promise<void> {
    if (!this.connected) return;
    const pid = this.remotePid;
    await this.remote(
      [
        `m=$(${membersScript(pid)})`,
        `kill -${leaderSignal.slice(3)} ${pid} 2>/dev/null; kill -CONT ${pid} 2>/dev/null`,
        'for p in $m; do kill -TERM "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done',
        `i=0; while [ $i -lt ${Math.max(1, Math.ceil(graceMs / 50))} ]; do if ! kill -0 ${pid} 2>/dev/null && [ -z "$(${membersScript(pid)})" ]; then break; fi; sleep 0.05; i=$((i+1)); done`,
        `for p in $(${membersScript(pid)}) ${pid}; do kill -KILL "$p" 2>/dev/null; done`,
      ].join("; "),
    ).catch((err: unknown) => this.log.debug({ err }, "ssh terminate failed (the connection is gone)"));
  }

  async release(unexpected: boolean, graceMs: number): Promise<void> {
    try {
      if (this.connected) {
        if (unexpected) await this.terminate(graceMs, "SIGKILL");
        await this.remote(`rm -rf -- ${sq(this.runtimeDir)}`).catch(() => "");
      }
    } finally {
      this.connected = false;
      this.client.end();
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Waits for the pid announcement, then passes the terminal on, and watches for the end. */
  private wire(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => reject(spawnFailed(`the remote shell did not start within ${timeoutMs} ms`)), timeoutMs);
      this.shell.on("data", (data: Buffer) => {
        if (this.remotePid) return this.deliver(data);
        head = Buffer.concat([head, data]);
        const m = PID_MARKER.exec(head.toString("latin1"));
        if (!m) return;
        this.remotePid = Number(m[1]);
        clearTimeout(timer);
        const rest = head.subarray(m.index + m[0].length);
        if (rest.length) this.deliver(rest);
        resolve();
      });
      let status: { code: number | null; signal: number | null } | undefined;
      this.shell.on("exit", (code: number | null, signalName?: string) => {
        status = { code: typeof code === "number" ? code : null, signal: signalName ? (osConstants.signals[`SIG${signalName}` as NodeJS.Signals] ?? null) : null };
      });
      const ended = () => {
        clearTimeout(timer);
        if (!this.remotePid) reject(spawnFailed(`the remote shell exited before it started: ${head.toString("utf8").trim().slice(0, 2000)}`));
        this.ended(status ? { exitCode: status.signal ? null : status.code, signal: status.signal } : { exitCode: null, signal: null });
      };
      this.shell.on("close", ended);
      this.client.on("close", () => {
        this.connected = false;
        ended();
      });
      this.client.on("error", (err) => this.log.warn({ err: err.message }, "ssh connection error"));
    });
  }

  private deliver(data: Buffer): void {
    if (this.dataListener) this.dataListener(data);
    else this.early.push(data);
  }

  private ended(exit: ProcessExit): void {
    if (this.exitInfo) return;
    this.exitInfo = exit;
    this.exitListener?.(exit);
  }

  private async remote(command: string): Promise<string> {
    if (!this.connected) return "";
    return (await this.control.run(command)).stdout;
  }
}

/** A shell pipeline printing the pids of the session led by `pid`, itself excluded. */
function membersScript(pid: number): string {
  return `ps -e -o pid= -o sid= | awk '$2 == ${pid} && $1 != ${pid} {print $1}'`;
}

function connect(client: Client, target: SshTarget, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const expected = target.hostKeySha256 === ANY_HOST_KEY ? undefined : target.hostKeySha256.replace(/^SHA256:/, "").replace(/=+$/, "");
    let presented: string | undefined;
    // Small writes (keystrokes, exec lines, markers) must not wait for Nagle's algorithm.
    const sock = netConnect({ host: target.host, port: target.port });
    sock.setNoDelay(true);
    const config: ConnectConfig = {
      sock,
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      ...(target.passphrase === undefined ? {} : { passphrase: target.passphrase }),
      readyTimeout: timeoutMs,
      keepaliveInterval: 0,
      ...(expected === undefined
        ? {}
        : {
            hostVerifier: (key: Buffer) => {
              presented = createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
              return presented === expected;
            },
          }),
    };
    // Listening stays on after the first error (and after ready): ssh2 may emit another one
    // later — "Connection lost before handshake" after the ready timeout — and an error event
    // nobody listens to would end the server.
    let settled = false;
    const onError = (err: Error) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (presented !== undefined && presented !== expected) {
        // What the user needs to check and pin the key, never the key material.
        reject(new Error(`the host's key is SHA256:${presented}, not the expected SHA256:${expected}`));
      } else reject(err);
    };
    sock.on("error", onError);
    client.on("error", onError);
    client.once("ready", () => {
      settled = true;
      resolve();
    });
    try {
      client.connect(config);
    } catch (err) {
      reject(err);
    }
  });
}

function openChannel(client: Client, command: string, pty?: { term: string; cols: number; rows: number }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {}, (err, channel) => (err ? reject(err) : resolve(channel)));
  });
}

/**
 * A non-interactive bash on a channel of its own that runs sessiond's short commands (ps, kill, setup) one
 * at a time: each is followed by a nonce line carrying its exit status. Its output is stdout and
 * stderr together; its stdin is /dev/null, so that no command reads the channel.
 */
class RemoteControl {
  private output = "";
  private tail: Promise<unknown> = Promise.resolve();
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly channel: ClientChannel) {
    channel.on("data", (d: Buffer) => {
      this.output += d.toString("utf8");
      this.waiter?.();
    });
    channel.stderr.resume();
    channel.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** bash, not the login's sh: dash's `kill` takes no `--` and no negative pid (a process group). */
  static async open(client: Client, shellPath: string): Promise<RemoteControl> {
    return new RemoteControl(await openChannel(client, `exec ${sq(shellPath)} --norc --noprofile`));
  }

  /** Runs `command` in a subshell. @returns its status and output; code null when the channel closed first */
  run(command: string): Promise<{ code: number | null; stdout: string }> {
    const result = this.tail.then(() => this.exec(command));
    this.tail = result.catch(() => {});
    return result;
  }

  private async exec(command: string): Promise<{ code: number | null; stdout: string }> {
    if (this.closed) return { code: null, stdout: "" };
    const nonce = randomBytes(9).toString("hex");
    const end = new RegExp(`\n@@${nonce}@@(\\d+)\n`);
    this.output = "";
    this.channel.write(`( ${command}\n) </dev/null 2>&1; printf '\\n@@%s@@%s\\n' ${nonce} "$?"\n`);
    for (;;) {
      const m = end.exec(this.output);
      if (m) {
        const stdout = this.output.slice(0, m.index);
        this.output = this.output.slice(m.index + m[0].length);
        return { code: Number(m[1]), stdout };
      }
      if (this.closed) return { code: null, stdout: this.output };
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }
}

/** POSIX single quoting, for command lines the remote login shell (any sh) parses. */
function sq(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function isSpawnFailed(err: unknown): boolean {
  return (err as { code?: string })?.code === "spawn_failed";
}
