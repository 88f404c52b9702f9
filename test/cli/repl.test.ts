import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type IPty, spawn } from "node-pty";
import { afterAll, describe, expect, it } from "vitest";
import { cliHome, until, useCompiledCli } from "./run-cli.js";

const SLOW = { timeout: 180_000 };
/** How long one expected answer may take to show on a busy machine before the test gives up. */
const WAIT_MS = 60_000;
const built = useCompiledCli();

/** `sessiond repl` on a real terminal (node-pty), its screen text collected with escapes removed. */
function replOnPty(args: string[], env: NodeJS.ProcessEnv, command = "repl") {
  const pty: IPty = spawn(process.execPath, [built.main, command, ...args], { name: "xterm", cols: 200, rows: 50, env: env as Record<string, string> });
  let screen = "";
  pty.onData((d) => {
    // Colours and cursor moves removed: the test reads the words.
    screen += d.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
  });
  let exit: number | undefined;
  pty.onExit((e) => {
    exit = e.exitCode;
  });
  const mark = () => screen.length;
  return {
    pty,
    /** Waits until `text` appears after position `from`. */
    waitFor: async (text: string | RegExp, from = 0) => {
      // A bounded wait that shows the screen when it fails, instead of a bare test timeout.
      const deadline = Date.now() + WAIT_MS;
      const seen = () => (typeof text === "string" ? screen.slice(from).includes(text) : text.test(screen.slice(from)));
      await until(() => seen() || Date.now() > deadline);
      if (!seen()) throw new Error(`never saw ${String(text)} on the screen; after the mark it shows:\n${screen.slice(from)}`);
    },
    mark,
    since: (from: number) => screen.slice(from),
    exited: () => exit,
  };
}

describe("sessiond repl on a real terminal", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("runs cells in a shell session, answers :session commands, completes with Tab, interrupts with Ctrl-C and leaves with Ctrl-D", async () => {
    await h.json(["start", "--kind", "shell", "--name", "work"]);
    const r = replOnPty(["work"], h.env);
    try {
      await r.waitFor("work (shell)> ");

      let m = r.mark();
      r.pty.write("cd /tmp && export WHO=pty\r");
      await r.waitFor("work (shell)> ", m);
      m = r.mark();
      r.pty.write("echo I am $WHO in $(pwd)\r");
      await r.waitFor("I am pty in /tmp", m);

      m = r.mark();
      r.pty.write(":session checkpoint first\r");
      await r.waitFor(/checkpoint \S+ at seq \d+ \(first\)/, m);
      m = r.mark();
      r.pty.write(":session checkpoints\r");
      await r.waitFor(/ID\s+SEQ\s+LABEL[\s\S]*first/, m);
      m = r.mark();
      r.pty.write(":session trace 5\r");
      await r.waitFor(/exec\s+"echo I am \$WHO in \$\(pwd\)" → ok/, m);
      m = r.mark();
      r.pty.write(":session list\r");
      await r.waitFor(/\* +work +shell +active/, m);
      m = r.mark();
      r.pty.write(":session info\r");
      await r.waitFor(/name:\s+work/, m);

      // Tab completes the : commands (two candidates are listed, one is completed).
      m = r.mark();
      // One key at a time: readline treats a multi-key chunk as a paste and does not complete in it.
      r.pty.write(":session che");
      await r.waitFor(":session che", m);
      r.pty.write("\t");
      await r.waitFor(":session checkpoint", m);
      r.pty.write("\t");
      await r.waitFor(/:session checkpoints[\s\S]*> :session checkpoint/, m);
      expect(r.since(m)).not.toContain(":session trace");
      r.pty.write("\u0015"); // Ctrl-U clears the line

      // Ctrl-C interrupts the running cell; the session lives on.
      m = r.mark();
      r.pty.write("echo started-$((1+1)); sleep 60\r");
      // Output streams while the cell runs: seen before the cell has ended.
      await r.waitFor("started-2", m);
      // Repeated until the cell reports it: a Ctrl-C that lands before the exec starts finds nothing to interrupt.
      let interrupted = false;
      while (!interrupted) {
        r.pty.write("\u0003");
        await new Promise((res) => setTimeout(res, 200));
        interrupted = r.since(m).includes("interrupted");
      }
      await r.waitFor("work (shell)> ", m);
      m = r.mark();
      r.pty.write("echo still here\r");
      await r.waitFor("still here", m);

      // :session new starts another live session and switches to it.
      m = r.mark();
      r.pty.write(":session new shell other\r");
      await r.waitFor("other (shell)> ", m);

      r.pty.write("\u0004"); // Ctrl-D
      await until(() => r.exited() !== undefined);
      expect(r.exited()).toBe(0);
    } finally {
      if (r.exited() === undefined) r.pty.kill();
    }
    // The sessions keep running after the REPL left, and the history is in the data dir.
    expect((await h.json<{ status: string }>(["show", "work"])).status).toBe("active");
    const history = readFileSync(join(h.home, "repl_history"), "utf8");
    expect(history).toContain("echo I am $WHO in $(pwd)\n");
    expect(history).toContain(":session checkpoint first\n");
  });

  it("recalls the previous run's history with the up arrow", async () => {
    const r = replOnPty(["work"], h.env);
    try {
      await r.waitFor("work (shell)> ");
      const m = r.mark();
      r.pty.write("\u001b[A"); // up: the newest line of the history file
      await r.waitFor(":session new shell other", m);
      r.pty.write("\u0015\u0004");
      await until(() => r.exited() !== undefined);
    } finally {
      if (r.exited() === undefined) r.pty.kill();
    }
  });
});

describe("sessiond attach on a real terminal", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("types into the shell's terminal, follows resizes, and detaches with Ctrl-] leaving the session running", async () => {
    await h.json(["start", "--kind", "shell", "--name", "term"]);
    const r = replOnPty(["term"], h.env, "attach");
    try {
      let m = r.mark();
      r.pty.write("echo attached-$((40+2))\r");
      await r.waitFor("attached-42", m);
      r.pty.resize(111, 37);
      // The resize is a message beside the keys; ask until the shell sees the new size.
      let sized = false;
      while (!sized) {
        m = r.mark();
        r.pty.write("stty size\r");
        await r.waitFor(/\n\d+ \d+\r/, m);
        sized = r.since(m).includes("37 111");
      }
      m = r.mark();
      r.pty.write("\u001d"); // Ctrl-]
      await until(() => r.exited() !== undefined);
      expect(r.exited()).toBe(0);
      expect(r.since(m)).toContain("detached from term");
    } finally {
      if (r.exited() === undefined) r.pty.kill();
    }
    expect((await h.json<{ status: string }>(["show", "term"])).status).toBe("active");
    expect((await h.run(["exec", "term", "echo after"])).stdout).toBe("after\n");
  });

  it("refuses an agent session in one line", async () => {
    await h.json(["start", "--name", "not-a-shell"]);
    const r = replOnPty(["not-a-shell"], h.env, "attach");
    await until(() => r.exited() !== undefined);
    expect(r.exited()).toBe(1);
    expect(r.since(0)).toMatch(/sessiond: .*not-a-shell/);
  });
});

describe("sessiond import on a real terminal", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("draws a progress bar, then the summary", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-files-"));
    try {
      for (const id of ["s_a", "s_b", "s_c"]) {
        mkdirSync(join(dir, "sessions", id), { recursive: true });
        writeFileSync(join(dir, "sessions", id, "session.json"), JSON.stringify({ id, mode: "m", task: "t", status: "active", createdAt: "2025-01-01T00:00:00.000Z", history: [] }));
      }
      const r = replOnPty([dir], h.env, "import");
      await until(() => r.exited() !== undefined);
      expect(r.exited()).toBe(0);
      expect(r.since(0)).toMatch(/importing \[#+ *\] 3\/3/);
      expect(r.since(0)).toContain("sessions layout: 3 found, 3 imported, 0 already there, 0 failed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
