import { chmod, chown, lstat, readlink, realpath, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProcessExit, SandboxPlan, StartSpec } from "../driver.js";
import { listProcesses } from "../process-tree.js";
import { SessionCgroup } from "./cgroup.js";

/** A program to start in a session. */
export interface LaunchRequest {
  readonly command: string;
  readonly args: readonly string[];
  /** The whole environment of the program. */
  readonly env: Readonly<Record<string, string>>;
  /** Host paths the program needs to see read-only (its interpreter's prefix, the helper scripts). */
  readonly readOnlyPaths?: readonly string[];
  /** Make the program the leader of a terminal session of its own (a program without a terminal). */
  readonly newSession?: boolean;
  /** The highest descriptor the program inherits (its stdio and protocol pipes); every other is closed. @default 2 */
  readonly keepDescriptors?: number;
}

/** What to spawn (on a PTY or with pipes), and the cgroup it joins before anything runs. */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The working directory of the spawn on the host (inside a sandbox, bwrap changes to the session's own). */
  readonly cwd: string;
  readonly cgroup: SessionCgroup | undefined;
  readonly sandboxed: boolean;
  /** The session's memory limit, for the reason of a kill over it. */
  readonly memoryBytes: number;
}

/** The name the session's uid has inside its sandbox (its own /etc/passwd). */
export const SANDBOX_USER = "session";

/**
 * Closes every descriptor above `$1` (the server holds others without close-on-exec — node-pty's
 * terminal masters among them — which would reach the session and let it type into other
 * sessions' shells), caps the size of any file it writes at `$2` KiB (0: no cap; soft and hard,
 * so the session cannot raise it), joins each cgroup.procs file given before `--`, then becomes
 * the program after it. A shell, and not the server writing the pid after the spawn: by then the program
 * may have forked children that would stay outside the session's limits. bash, not sh: dash
 * cannot name a descriptor above 9.
 */
const LAUNCHER = [
  'keep=$1 fsize=$2; shift 2',
  '[ "$fsize" = 0 ] || ulimit -f "$fsize" || exit 125',
  'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt "$keep" ] 2>/dev/null && eval "exec $fd>&-"; done',
  'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || { echo "sessiond: could not join the cgroup $f" >&2; exit 125; }; shift; done',
  'shift; exec "$@"',
].join("\n");
const LAUNCHER_SHELL = "/bin/bash";

/**
 * The last step before the program: reads its environment from the NUL-separated file `$1` and
 * becomes the program with exactly that environment. The session's variables reach no process
 * before this one: the launcher, bubblewrap and setpriv run as root on the host with a fixed
 * environment, so a variable the session chose (LD_PRELOAD, BASH_ENV…) cannot run code there.
 */
const APPLY_ENV = 'f=$1; shift; vars=(); while IFS= read -r -d "" kv; do vars+=("$kv"); done < "$f"; exec -c /usr/bin/env -- "${vars[@]}" "$@"';

/** The whole environment of the launcher, bubblewrap and setpriv. */
const LAUNCH_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

/** Top-level system folders a sandbox shows read-only, or as the same symlinks (merged /usr). */
const SYSTEM_DIRS = ["/usr", "/etc"];
const SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];

/**
 * Prepares the start of `request` for `spec`: the session's cgroup (processes, memory, CPU), and
 * where the spec carries a sandbox plan, bubblewrap and setpriv around the program. Nothing of the
 * server's environment reaches any of them, and the program's own environment is applied last
 * (see APPLY_ENV), written to a file in the runtime folder that only the session's uid reads.
 */
export async function prepareLaunch(spec: StartSpec, request: LaunchRequest): Promise<Launch> {
  const cgroup = spec.limits.cgroup ? SessionCgroup.create(spec.sessionId, spec.limits) : undefined;
  const plan = spec.sandbox;
  const common = { cwd: plan ? "/" : spec.cwd, cgroup, sandboxed: plan !== undefined, memoryBytes: spec.limits.memoryBytes };
  if (!cgroup && !plan) return { file: request.command, args: request.args, env: request.env, ...common };
  const env = plan ? { ...request.env, HOME: plan.workspace, USER: SANDBOX_USER, LOGNAME: SANDBOX_USER, TMPDIR: "/tmp" } : request.env;
  const envFile = join(spec.runtimeDir, "env");
  await writeFile(envFile, Object.entries(env).map(([name, value]) => `${name}=${value}\0`).join(""), { mode: 0o400 });
  await chownForSession(envFile, plan);
  let command = [LAUNCHER_SHELL, "-c", APPLY_ENV, "sessiond-env", envFile, request.command, ...request.args];
  if (plan) command = [plan.tools.bwrap, ...(await bwrapArgs(spec, plan, request)), "--", plan.tools.setpriv, ...setprivArgs(plan), "--", ...command];
  const keep = String(request.keepDescriptors ?? 2);
  const fileKib = String(Math.ceil(spec.limits.fileBytes / 1024));
  return { file: LAUNCHER_SHELL, args: ["-c", LAUNCHER, "sessiond-launch", keep, fileKib, ...(cgroup?.procsFiles ?? []), "--", ...command], env: LAUNCH_ENV, ...common };
}

/** The program a launch started, as the host sees it. */
export interface Program {
  readonly pid: number;
  /** bubblewrap and its init: in the session's cgroup, but not the session's own processes. */
  readonly wrappers: readonly number[];
}

/**
 * The program a launch started: the spawned process itself, or inside a sandbox the first child
 * of bubblewrap's init (bwrap → its PID 1 → the program), once it exists.
 * @returns undefined when it did not appear in time (the sandbox failed to start)
 */
export async function findProgram(launch: Pick<Launch, "sandboxed">, spawned: number, timeoutMs: number): Promise<Program | undefined> {
  if (!launch.sandboxed) return { pid: spawned, wrappers: [] };
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; Date.now() < deadline; round++) {
    // Reading a process's stat costs ~0.1 ms here: look only at pids newer than the spawn (its
    // children), and at all of them now and then, in case pids wrapped around meanwhile.
    const all = round % FULL_SCAN_EVERY === FULL_SCAN_EVERY - 1 ? listProcesses() : listProcesses((pid) => pid >= spawned);
    const init = all.find((p) => p.ppid === spawned);
    const program = init && all.find((p) => p.ppid === init.pid);
    if (program) return { pid: program.pid, wrappers: [spawned, init.pid] };
    if (!all.some((p) => p.pid === spawned && p.state !== "Z")) return undefined;
    await sleep(round < 20 ? 1 : 5);
  }
  return undefined;
}

/**
 * How the program ended, from how the spawned process did: bubblewrap exits 128 + n when its
 * program died of signal n, as a shell reports it; and why, when the kernel killed something in
 * the session's cgroup over its memory limit.
 */
export function programExit(launch: Pick<Launch, "sandboxed" | "cgroup" | "memoryBytes">, exitCode: number | null, signal: number | null): ProcessExit {
  const bySignal = launch.sandboxed && signal === null && exitCode !== null && exitCode > 128 && exitCode <= 128 + MAX_SIGNAL;
  const status = bySignal ? { exitCode: null, signal: exitCode - 128 } : { exitCode: signal ? null : exitCode, signal };
  if (launch.cgroup?.oomKills()) return { ...status, cause: `killed by the kernel over the session's memory limit (sessionMemoryBytes: ${launch.memoryBytes} bytes)` };
  if (status.signal === SIGXFSZ) return { ...status, cause: "killed by the kernel for writing a file past the session's disk limit (sessionDiskBytes)" };
  return status;
}

/** What the kernel sends a process writing past RLIMIT_FSIZE (Node, unlike Python, does not ignore it). */
const SIGXFSZ = 25;

/** How often the search for a sandboxed program looks at every process, not only newer pids. */
const FULL_SCAN_EVERY = 50;

/** Linux's highest real-time signal number. */
const MAX_SIGNAL = 64;

/** Hands a file sessiond made for the session (its stderr FIFO) to the session's uid. */
export async function chownForSession(path: string, plan: SandboxPlan | undefined): Promise<void> {
  if (plan) await chown(path, plan.uid, plan.gid);
}

function setprivArgs(plan: SandboxPlan): string[] {
  return [
    `--reuid=${plan.uid}`,
    `--regid=${plan.gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    // No setuid binary inside can give privileges back.
    "--no-new-privs",
  ];
}

async function bwrapArgs(spec: StartSpec, plan: SandboxPlan, request: LaunchRequest): Promise<string[]> {
  const mounts = new MountList();
  const args = [
    // The sandbox dies with the server: a kill -9 of the server leaves no session running unseen.
    "--die-with-parent",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    ...(plan.network ? [] : ["--unshare-net"]),
    ...(request.newSession ? ["--new-session"] : []),
    "--hostname",
    "sessiond",
  ];
  for (const entry of await systemLayout()) {
    if (entry.link !== undefined) mounts.push("--symlink", entry.link, entry.path);
    else if (!mounts.covers(entry.path)) mounts.mount("--ro-bind", entry.path, entry.path);
  }
  mounts.mount("--proc", "/proc");
  mounts.mount("--dev", "/dev");
  // World-writable and sticky, as a /tmp should be; private to this session. A tmpfs lives in
  // memory, charged to the session's cgroup, and is capped at the memory limit: filling it ends in
  // ENOSPC or, as its pages count with the session's other memory, in the kernel killing the
  // session over its limit — the host's memory is safe either way.
  const size = spec.limits.memoryBytes > 0 ? ["--size", String(spec.limits.memoryBytes)] : [];
  mounts.push("--perms", "1777", ...size);
  mounts.mount("--tmpfs", "/tmp");
  mounts.dir("/var");
  mounts.push("--perms", "1777", ...size);
  mounts.mount("--tmpfs", "/var/tmp");
  mounts.push(...size);
  mounts.mount("--tmpfs", "/run");
  for (const path of [...plan.readOnlyPaths, ...(request.readOnlyPaths ?? [])]) {
    if (!mounts.covers(path)) mounts.mount("--ro-bind-try", path, path);
  }
  mounts.mount("--bind", plan.workspace, plan.workspace);
  // The runtime folder (the shell's rc and stderr FIFO, the user's passwd entry), read-only.
  await chmod(spec.runtimeDir, 0o755);
  const passwd = join(spec.runtimeDir, "passwd");
  const group = join(spec.runtimeDir, "group");
  await writeFile(passwd, passwdFile(plan), { mode: 0o644 });
  await writeFile(group, groupFile(plan), { mode: 0o644 });
  mounts.mount("--ro-bind", spec.runtimeDir, spec.runtimeDir);
  mounts.push("--ro-bind", passwd, "/etc/passwd", "--ro-bind", group, "/etc/group");
  mounts.push("--chdir", spec.cwd);
  return [...args, ...mounts.args];
}

/** A system path a sandbox shows read-only, or as the same symlink. */
interface SystemEntry {
  readonly path: string;
  readonly link?: string;
}

let layout: Promise<SystemEntry[]> | undefined;

/** The host's system folders and links, read once per process: they do not change while it runs. */
function systemLayout(): Promise<SystemEntry[]> {
  layout ??= (async () => {
    const entries: SystemEntry[] = SYSTEM_DIRS.map((path) => ({ path }));
    for (const path of SYSTEM_LINKS) {
      const stat = await lstat(path).catch(() => undefined);
      if (stat?.isSymbolicLink()) entries.push({ path, link: await readlink(path) });
      else if (stat?.isDirectory()) entries.push({ path });
    }
    // A resolv.conf linked elsewhere (systemd-resolved) needs its target too, or names do not resolve.
    const resolv = await realpath("/etc/resolv.conf").catch(() => undefined);
    if (resolv) entries.push({ path: resolv });
    return entries;
  })();
  return layout;
}

/**
 * The host path `path` leads to, its links followed as far as it exists (the rest joined on as
 * written): what to judge visibility by when the path may pass through a folder the session can
 * write, and so plant a link in (`<workspace>/L -> /`). Judged by name, `<workspace>/L/root/x`
 * would count as the workspace's, and checking whether it exists would tell the session whether
 * the host's /root/x does.
 */
export async function hostPathOf(path: string): Promise<string> {
  const absolute = resolve(path);
  const rest: string[] = [];
  for (let at = absolute; ; at = dirname(at)) {
    try {
      return join(await realpath(at), ...rest.reverse());
    } catch {
      if (at === "/") return absolute;
      rest.push(basename(at));
    }
  }
}

/**
 * Whether a folder exists inside a session's sandbox: its workspace, a private empty /tmp, the
 * read-only system and `readOnlyPaths`.
 */
export function visibleInSandbox(path: string, workspace: string, readOnlyPaths: readonly string[]): boolean {
  // Compared as the folder it names: "/usr/../root" is /root, whatever its first component says.
  const folder = resolve(path);
  const under = (root: string) => folder === root || folder.startsWith(`${root}/`);
  return folder === "/tmp" || [workspace, ...SYSTEM_DIRS, ...readOnlyPaths].some(under);
}

/**
 * bubblewrap arguments that mount things, with the folders above each mount point created first
 * (mode 0755: bwrap would make them 0700, which the session's uid could not cross).
 */
class MountList {
  readonly args: string[] = [];
  /** Bind mounts: what is under them is visible. */
  private readonly mounts = new Set<string>();
  /** Folders that exist in the sandbox: mount points and the empty folders made above them. */
  private readonly folders = new Set<string>(["/"]);

  push(...args: string[]): void {
    this.args.push(...args);
  }

  /** Whether `path` is already visible: at or under a mount made so far. */
  covers(path: string): boolean {
    for (let p = resolve(path); ; p = dirname(p)) {
      if (this.mounts.has(p)) return true;
      if (p === "/") return false;
    }
  }

  dir(path: string): void {
    if (this.folders.has(path)) return;
    this.parents(path);
    this.args.push("--perms", "0755", "--dir", path);
    this.folders.add(path);
  }

  mount(option: string, source: string, dest = source): void {
    const target = resolve(dest);
    this.parents(target);
    const fresh = option === "--proc" || option === "--dev" || option === "--tmpfs";
    this.args.push(option, source, ...(fresh ? [] : [target]));
    // A fresh filesystem (tmpfs) is empty: folders under it still have to be made.
    if (!fresh) this.mounts.add(target);
    this.folders.add(target);
  }

  private parents(path: string): void {
    const parent = dirname(path);
    if (this.folders.has(parent) || this.covers(parent)) return;
    this.dir(parent);
  }
}

function passwdFile(plan: SandboxPlan): string {
  return [
    "root:x:0:0:root:/root:/usr/sbin/nologin",
    `${SANDBOX_USER}:x:${plan.uid}:${plan.gid}:sessiond session:${plan.workspace}:/bin/bash`,
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    "",
  ].join("\n");
}

function groupFile(plan: SandboxPlan): string {
  return ["root:x:0:", `${SANDBOX_USER}:x:${plan.gid}:`, "nogroup:x:65534:", ""].join("\n");
}
