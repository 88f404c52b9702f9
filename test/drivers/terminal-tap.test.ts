import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TerminalTap } from "../../src/drivers/index.js";
import { MAX_TYPED_BACKLOG_BYTES, MarkerStripper } from "../../src/drivers/shell/terminal-tap.js";
import { readStat } from "../../src/drivers/process-tree.js";
import { LiveHarness, eventually, failure } from "./harness.js";

/** Collects what a tap shows, and waits for text to appear in it. */
class Screen {
  private bytes: Buffer[] = [];
  private waiters: (() => void)[] = [];
  readonly off: () => void;

  constructor(tap: TerminalTap) {
    this.off = tap.onData((data) => {
      this.bytes.push(Buffer.from(data));
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  get text(): string {
    return Buffer.concat(this.bytes).toString("utf8");
  }

  async waitFor(text: string): Promise<void> {
    while (!this.text.includes(text)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

describe("the terminal tap of a live shell", () => {
  let h: LiveHarness;
  beforeEach(() => {
    h = new LiveHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("shows exec output and stderr without markers, with CR LF line ends", async () => {
    await h.live.start({ kind: "shell", name: "t" });
    const tap = await h.live.terminal("t");
    expect(tap.cols).toBe(h.config.ptyCols);
    const screen = new Screen(tap);
    const result = await h.live.exec("t", "echo out-line; echo err-line >&2; cd /tmp");
    expect(result.stdout).toBe("out-line\n");
    await screen.waitFor("err-line");
    expect(screen.text).toContain("out-line\r\n");
    expect(screen.text).not.toContain("\x1b]6973");
    screen.off();
  });

  it("hides sessiond's own bookkeeping (the state capture) from people watching", async () => {
    await h.live.start({ kind: "shell", name: "b" });
    const tap = await h.live.terminal("b");
    const screen = new Screen(tap);
    // An export triggers a state capture (`export -p`) right after the exec.
    await h.live.exec("b", "export VISIBLE_MARK=1; echo done-exporting");
    await h.live.exec("b", "echo after");
    await screen.waitFor("after");
    expect(screen.text).toContain("done-exporting");
    expect(screen.text).not.toContain("declare -x");
  });

  it("takes no more keystrokes past 1 MiB its program has not read, and the session stays in hand", async () => {
    await h.live.start({ kind: "shell", name: "k" });
    const tap = await h.live.terminal("k");
    // A program that reads nothing holds the terminal; what is typed waits in the server, bounded.
    const running = h.live.exec("k", "sleep 300", { stdin: true });
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    const chunk = Buffer.alloc(64 * 1024, "a");
    let taken = 0;
    while (tap.write(chunk)) {
      taken += chunk.length;
      // The backlog, one chunk past it, and what the kernel's terminal took meanwhile: in line
      // mode it drops what overflows a line, as fast as it runs (some 64 KiB, up to ~300 KiB on
      // a loaded machine). Without the cap this loop would never end.
      expect(taken).toBeLessThanOrEqual(MAX_TYPED_BACKLOG_BYTES + 16 * chunk.length);
    }
    expect(taken).toBeGreaterThan(MAX_TYPED_BACKLOG_BYTES - chunk.length);
    // The session stays in hand: the exec is interrupted (its command killed past the grace), and
    // a stop ends it, with nothing of the backlog left behind.
    await h.live.interrupt("k");
    expect((await running).status).toBe("interrupted");
    await h.live.stop("k");
    expect(h.leftovers()).toEqual([]);
  });

  it("still takes a lone Ctrl-C past the backlog: it drops what waits and reaches the program", async () => {
    await h.live.start({ kind: "shell", name: "c" });
    const tap = await h.live.terminal("c");
    const running = h.live.exec("c", "sleep 300", { stdin: true });
    // Running, not only sent: a Ctrl-C that came before bash read the exec's line would flush
    // the line (a loaded machine left that window open once).
    const pid = h.live.describe("c")!.pid!;
    await eventually(() => readStat(pid)!.tpgid !== pid, 10_000, "sleep in the foreground");
    const chunk = Buffer.alloc(64 * 1024, "a");
    while (tap.write(chunk));
    expect(tap.write("b")).toBe(false);
    expect(tap.write("\x03")).toBe(true);
    // Typed, not asked for through interrupt: the command dies of the terminal's SIGINT.
    expect(await running).toMatchObject({ exit_code: 130 });
    expect(tap.write("\x15")).toBe(true); // taken again (Ctrl-U: clears the line bash reads)
    expect((await h.live.exec("c", "echo ok")).stdout).toBe("ok\n");
  });

  it("runs what a person types, echoes it, and keeps the next exec's markers intact", async () => {
    await h.live.start({ kind: "shell", name: "p" });
    const tap = await h.live.terminal("p");
    const screen = new Screen(tap);
    tap.write("echo typed-by-$((6*7))\r");
    await screen.waitFor("typed-by-42");
    expect(screen.text).toContain("echo typed-by-$((6*7))\r\n");
    // A program a person started reads the line itself: no soft echo then (cat, in line mode
    // with echo off, shows each line once: its own output).
    const pid = h.live.describe("p")!.pid!;
    tap.write("cat\r");
    await eventually(() => readStat(pid)!.tpgid !== pid, 5000, "cat in the foreground");
    tap.write("only-once\r");
    await screen.waitFor("only-once");
    tap.write("\x04");
    await eventually(() => readStat(pid)!.tpgid === pid, 5000, "the shell back in the foreground");
    expect(screen.text.split("only-once").length - 1).toBe(1);
    // A half-typed line does not run into the next exec's line.
    tap.write("echo half");
    const result = await h.live.exec("p", "echo from-exec");
    expect(result).toMatchObject({ stdout: "from-exec\n", exit_code: 0, status: "ok" });
    expect((await h.live.exec("p", "echo again")).stdout).toBe("again\n");
  });

  it("keeps answering execs after a person moves the shell's stdout for good (`exec >log`)", async () => {
    await h.live.start({ kind: "shell", name: "p" });
    const tap = await h.live.terminal("p");
    tap.write("exec >typed.log; echo typed-into-file-$((6*7))\r");
    await eventually(async () => (await h.live.exec("p", "cat typed.log >&2")).stderr.includes("typed-into-file-42"), 5000, "the typed line run");
    expect(await h.live.exec("p", "echo from-exec; echo err >&2", { timeout_ms: 10_000 })).toMatchObject({ status: "ok", stdout: "", stderr: "err\n" });
    expect((await h.live.exec("p", "cat typed.log >&2")).stderr).toBe("typed-into-file-42\nfrom-exec\n");
  });

  it("saves the shell's state only once a person's half-typed line is ended, never wiping it", async () => {
    await h.close();
    h = new LiveHarness({ stateSyncMs: 300 });
    await h.live.start({ kind: "shell", name: "w" });
    const tap = await h.live.terminal("w");
    const screen = new Screen(tap);
    const savedMark = async () => ((await h.manager.get("w")).runtime_metadata.env as Record<string, string> | undefined)?.SYNC_MARK;
    // An export the quick guess does not see: saved by the periodic capture, stateSyncMs later.
    await h.live.exec("w", `ex""port SYNC_MARK"="42`);
    tap.write("echo half-$((6*7))");
    await new Promise((resolve) => setTimeout(resolve, 4 * h.config.stateSyncMs));
    expect(await savedMark()).toBeUndefined();
    tap.write("-done\r");
    await screen.waitFor("half-42-done");
    expect(screen.text).not.toContain("command not found");
    await eventually(async () => (await savedMark()) === "42", 5000, "the state saved after the line ended");
  });

  it("pauses and resumes reading, counted", async () => {
    await h.live.start({ kind: "shell", name: "f" });
    const tap = await h.live.terminal("f");
    const screen = new Screen(tap);
    tap.pause();
    tap.pause();
    tap.resume();
    const pending = h.live.exec("f", "echo flowed");
    // Still paused once: the exec cannot complete until reading resumes.
    const state = await Promise.race([pending.then(() => "done"), new Promise((r) => setTimeout(() => r("waiting"), 300))]);
    expect(state).toBe("waiting");
    tap.resume();
    expect((await pending).stdout).toBe("flowed\n");
    await screen.waitFor("flowed");
  });

  it("is refused for a stopped session (409)", async () => {
    await h.live.start({ kind: "shell", name: "s" });
    await h.live.stop("s");
    expect(await failure(h.live.terminal("s"))).toMatchObject({ code: "session_not_active", status: 409 });
  });

  it("is refused for an agent record (409)", async () => {
    await h.manager.create({ name: "agent-rec" });
    expect(await failure(h.live.terminal("agent-rec"))).toMatchObject({ status: 409 });
  });
});

describe("MarkerStripper", () => {
  it("removes markers split across pieces and keeps other escapes", () => {
    const stripper = new MarkerStripper();
    const input = Buffer.from("a\x1b[1mb\x1b]6973;abc;0;\x07c\n\x1b]69");
    const out = [stripper.feed(input), stripper.feed(Buffer.from("73;go;x\x07d\r\n"))];
    expect(Buffer.concat(out).toString("latin1")).toBe("a\x1b[1mbc\r\nd\r\n");
  });
});
