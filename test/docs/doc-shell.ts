import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** What one block printed, and the commands of it that failed. */
export interface ShellRun {
  readonly output: string;
  /** `<exit status>: <command>` of every command that failed, in order. */
  readonly failures: readonly string[];
}

/**
 * One bash, kept for a whole markdown file, into which its blocks are pasted one after another —
 * as a reader pastes them into one terminal: variables, aliases and `cd` carry from block to
 * block. Each block is sourced from a file with stdin from /dev/null (so nothing it runs eats the
 * next block), and every failing command is recorded by an ERR trap and the block goes on, so a
 * report names every failure of a block, not the first.
 *
 * `curl` is a function here: `--fail-with-body`, so an HTTP error is a failure (curl -s exits 0 on
 * a 404 otherwise). A streaming one (`-N`, which follows an SSE stream until interrupted) waits for
 * its answer's status line: a 2xx stream is followed for `streamSeconds` more and then stopped, a
 * stop that counts as success; any other answer, and a curl that fails or ends on its own, counts
 * as any curl does. (A stop after a fixed time from the start would take a slow error answer for a
 * stream, and make every stream cost that time.)
 */
export class DocShell {
  private output = "";
  private waiting: { marker: string; resolve: (text: string) => void } | undefined;
  /** Why the shell can take no further block (an earlier one hung and the shell was killed). */
  private dead: string | undefined;
  private count = 0;

  private constructor(
    private readonly bash: ChildProcessWithoutNullStreams,
    private readonly nonce: string,
    private readonly scratch: string,
  ) {
    const take = (chunk: Buffer) => {
      this.output += chunk.toString();
      const waiting = this.waiting;
      if (!waiting) return;
      const at = this.output.indexOf(waiting.marker);
      if (at < 0) return;
      const text = this.output.slice(0, at);
      this.output = this.output.slice(at + waiting.marker.length);
      this.waiting = undefined;
      waiting.resolve(text);
    };
    bash.stdout.on("data", take);
    bash.stderr.on("data", take);
  }

  /**
   * Starts bash in `cwd` with exactly `env`; `scratch` is a folder for the block files;
   * `streamSeconds` is how long a streaming curl follows a stream once it is answered.
   */
  static start(options: { cwd: string; env: Record<string, string>; scratch: string; streamSeconds: number }): DocShell {
    // A process group of its own, so that a hung block is killed with everything it started.
    const bash = spawn("bash", ["--norc", "--noprofile"], { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    const shell = new DocShell(bash, randomBytes(8).toString("hex"), options.scratch);
    bash.stdin.write(
      [
        "exec 2>&1",
        "set -o pipefail",
        "shopt -s expand_aliases",
        // A failed curl is reported as the `return` of the function below: name the curl instead.
        `trap 's=$?; c=$BASH_COMMAND; [ "$c" = return ] && [ -n "\${__curl:-}" ] && c="curl $__curl"; __curl=; printf "\\n%s failed %s: %s\\n" ${shell.nonce} $s "$c"' ERR`,
        "curl() {",
        '  local a stream=0; __curl="$*"',
        '  for a in "$@"; do [[ $a == --no-buffer || $a =~ ^-[a-zA-Z]*N[a-zA-Z]*$ ]] && stream=1; done',
        '  if [ $stream = 1 ]; then',
        `    local headers=${JSON.stringify(options.scratch)}/curl-headers-$BASHPID-$RANDOM s=0 i stopped=0`,
        '    command curl --fail-with-body --dump-header "$headers" "$@" & local pid=$!',
        // The status line, or curl's end (an error, a refused connection, a stream that ended), within 30 s.
        '    for ((i = 0; i < 600; i++)); do { [ -s "$headers" ] || ! kill -0 $pid 2>/dev/null; } && break; sleep 0.05; done',
        '    if kill -0 $pid 2>/dev/null; then',
        '      local status=""; [ ! -s "$headers" ] || read -r _ status _ < "$headers"',
        `      if [ -z "$status" ]; then stopped=28; elif [[ $status == 2?? ]]; then sleep ${options.streamSeconds}; stopped=1; fi`,
        '      [ $stopped = 0 ] || kill $pid 2>/dev/null || stopped=0',
        '    fi',
        '    wait $pid || s=$?',
        '    rm -f "$headers"',
        // Stopped by us while it streamed a 2xx answer: a success; no answer within the wait: curl's timeout status.
        '    if [ $stopped = 1 ]; then s=0; elif [ $stopped = 28 ]; then s=28; fi',
        // A bare `return` (with curl's status), as below: the trap names the curl for it.
        '    [ $s != 0 ] || __curl=; (exit $s) || return; return 0',
        '  fi',
        // `|| return`: the failure is reported once, as the command that called curl.
        '  command curl --fail-with-body "$@" || return',
        "  __curl=",
        "}",
        "",
      ].join("\n"),
    );
    return shell;
  }

  /**
   * Pastes `script` into the shell and waits until it has run. A block still running after
   * `timeoutMs` is a failure: the shell and what it started are killed, and later blocks fail at once.
   */
  run(script: string, timeoutMs: number): Promise<ShellRun> {
    if (this.dead) return Promise.resolve({ output: "", failures: [this.dead] });
    const file = join(this.scratch, `block-${++this.count}.sh`);
    writeFileSync(file, script);
    const marker = `${this.nonce} done ${this.count}\n`;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<string | undefined>((resolve) => {
      this.waiting = { marker, resolve };
      timer = setTimeout(() => {
        this.dead = `an earlier block (${file}) did not finish within ${timeoutMs} ms`;
        this.kill();
        resolve(undefined);
      }, timeoutMs);
    });
    this.bash.stdin.write(`source ${JSON.stringify(file)} </dev/null; echo; echo "${marker.trimEnd()}"\n`);
    return done.then((text) => {
      clearTimeout(timer);
      if (text === undefined) return { output: this.output, failures: [`did not finish within ${timeoutMs} ms`] };
      const failures: string[] = [];
      const output = text
        .split("\n")
        .filter((line) => {
          const failed = line.startsWith(`${this.nonce} failed `);
          // The source line fails again when the block's last command failed: reported once.
          if (failed && !line.endsWith(`source ${JSON.stringify(file)} < /dev/null`)) failures.push(line.slice(this.nonce.length + " failed ".length));
          return !failed;
        })
        .join("\n");
      return { output, failures };
    });
  }

  /** Ends the shell and whatever it left running (the server it talked to is stopped by its owner). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.bash.exitCode !== null || this.bash.signalCode !== null) return resolve();
      this.bash.once("exit", () => resolve());
      this.kill();
    });
  }

  private kill(): void {
    try {
      process.kill(-this.bash.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
