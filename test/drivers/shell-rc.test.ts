import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IPty } from "node-pty";
import { afterEach, describe, expect, it } from "vitest";
import { ansiCPieces } from "../../src/drivers/shell/quote.js";
import { execLines, fenceLine, shellRc } from "../../src/drivers/shell/rc.js";

const nodePty = createRequire(import.meta.url)("node-pty") as typeof import("node-pty");

/**
 * bash with sessiond's rc on a bare terminal, driven a byte at a time by the test: the moments
 * between a command's end and the fence that a server cannot pick are picked here.
 */
class RcShell {
  readonly dir = mkdtempSync(join(tmpdir(), "sessiond-rc-"));
  private readonly stderr = join(this.dir, "stderr");
  private output = Buffer.alloc(0);
  private readonly pty: IPty;

  constructor() {
    const rc = join(this.dir, "rc");
    // The stderr pipe is a plain file here: the test reads what bash wrote there.
    writeFileSync(this.stderr, "");
    writeFileSync(rc, shellRc({ stderrPipe: { path: this.stderr, drained: true }, stateFile: join(this.dir, "state"), readyNonce: "ready0", maxProcesses: 0, fenceWaitMs: 2000 }));
    this.pty = nodePty.spawn("bash", ["--norc", "--noprofile", "--noediting", "-i"], {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.dir, LANG: "C.UTF-8", PROMPT_COMMAND: `source ${rc}` },
      encoding: null,
    } as Parameters<typeof nodePty.spawn>[2]);
    this.pty.onData((data) => {
      this.output = Buffer.concat([this.output, Buffer.from(data as unknown as Uint8Array)]);
    });
    this.pty.write("\n");
  }

  write(text: string): void {
    this.pty.write(text);
  }

  /** Waits until the terminal has shown `marker`, and forgets what came up to it. */
  async until(marker: string, timeoutMs = 5000): Promise<string> {
    const wanted = Buffer.from(marker, "latin1");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.output.indexOf(wanted);
      if (at >= 0) {
        const before = this.output.subarray(0, at).toString("latin1");
        this.output = this.output.subarray(at + wanted.length);
        return before;
      }
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(marker)} in ${JSON.stringify(this.output.toString("latin1"))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Waits until bash has asked for the fence of exec `nonce` on its stderr pipe. @returns the fence's token */
  async fenceRequest(nonce: string, timeoutMs = 5000): Promise<string> {
    const request = new RegExp(`\\x1b\\]6973;fence;${nonce};(\\d+)\\x07`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = request.exec(readFileSync(this.stderr, "latin1"));
      if (found) return found[1]!;
      if (Date.now() > deadline) throw new Error(`no fence request for ${nonce} on the stderr pipe`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(): void {
    this.pty.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("the shell rc's end of an exec with stdin", () => {
  let shell: RcShell | undefined;
  afterEach(() => shell?.close());

  it("drops what the command left unread up to the fence, a Ctrl-C in it too, and puts the session's INT trap back", async () => {
    shell = new RcShell();
    await shell.until("\x1b]6973;ready0;");
    const stdinExec = async (nonce: string, leftover: string) => {
      shell!.write(`${execLines(nonce, ansiCPieces("head -1"), { stdin: true }).join("\n")}\n`);
      shell!.write("first\n");
      const token = await shell!.fenceRequest(nonce);
      // What the server wrote before it saw the request; then the fence.
      shell!.write(leftover);
      await new Promise((resolve) => setTimeout(resolve, 100));
      shell!.write(fenceLine(token));
      await shell!.until(`\x1b]6973;${nonce};0;`);
    };
    const run = async (nonce: string, command: string) => {
      shell!.write(`${execLines(nonce, ansiCPieces(command)).join("\n")}\n`);
      return shell!.until(`\x1b]6973;${nonce};0;`);
    };
    // A Ctrl-C is SIGINT to bash, which holds the terminal now: it must not end the drop early.
    await stdinExec("n1", "\x03touch PWNED\n");
    expect(await run("n2", "ls")).not.toContain("PWNED");
    // With an INT trap of the session's own, the same, and the trap is the same after.
    await run("n3", "trap 'echo own-trap' INT");
    await stdinExec("n4", "touch PWNED2\n\x03");
    const after = await run("n5", "ls; trap -p INT");
    expect(after).not.toContain("PWNED");
    expect(after).toContain("trap -- 'echo own-trap' SIGINT");
    expect(existsSync(join(shell.dir, "PWNED"))).toBe(false);
    // Builtins the drop needs, disabled by the session, are enabled again for it.
    await run("n6", "enable -n read; enable -n builtin; enable -n trap");
    await stdinExec("n7", "touch PWNED3\n");
    expect(await run("n8", "ls")).not.toContain("PWNED");
    // Input that knows the exec's nonce (its command could have leaked it) cannot pose as the fence.
    await stdinExec("n9", "\nn9\x07touch PWNED4\n");
    expect(await run("n10", "ls")).not.toContain("PWNED");
  });

  it("keeps a fence that comes while a line-mode terminal holds a full line with no newline (which it would drop)", async () => {
    // The terminal's line holds 4 KiB at most: past it, in line mode, what comes is dropped unless
    // it ends the line. A fence can come then, before bash's read has left line mode: here a read
    // that starts only after the fence came, in a terminal left in line mode.
    const pty = nodePty.spawn("bash", ["--norc", "--noprofile", "--noediting", "-c", `stty -echo -onlcr; sleep 0.3; IFS= read -r -s -d $'\\a' x; echo "[\${x: -12}]"`], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
    });
    let printed = "";
    pty.onData((data) => (printed += data));
    const exited = new Promise<void>((resolve) => pty.onExit(() => resolve()));
    pty.write(`${"x".repeat(5000)}${fenceLine("424242")}`);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    pty.kill("SIGKILL");
    expect(printed).toContain("[xxxxx\n424242]");
  });

  it("drops an end of file typed in line mode (Ctrl-D at a line's start) with the rest: bash reads no EOF, and lives on", async () => {
    shell = new RcShell();
    await shell.until("\x1b]6973;ready0;");
    shell.write(`${execLines("n1", ansiCPieces("sleep 0.2; head -1"), { stdin: true }).join("\n")}\n`);
    // Taken by the terminal in line mode while the command runs: two ends of file among the lines.
    shell.write("first\n\x04touch PWNED\n\x04");
    shell.write(fenceLine(await shell.fenceRequest("n1")));
    await shell.until("\x1b]6973;n1;0;");
    shell.write(`${execLines("n2", ansiCPieces("ls")).join("\n")}\n`);
    expect(await shell.until("\x1b]6973;n2;0;")).not.toContain("PWNED");
  });
});
