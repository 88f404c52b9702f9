import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { OutputEvent } from "../../src/drivers/index.js";
import { checkSandbox } from "../../src/drivers/sandbox/index.js";
import { LiveHarness, eventually } from "./harness.js";

vi.setConfig({ testTimeout: 30_000 });

const sandbox = checkSandbox();
/** More than the pipes hold several times over (64 KiB each), both streams together under the 1 MiB cap. */
const BIG = 300_000;

/** The same cells in each interpreter's words. */
interface Cells {
  /** Writes BIG bytes "o" on stdout and BIG bytes "e" on stderr, alternating pieces, and ends. */
  bothStreams: string;
  /** Ends on a subprocess writing `from child` on stdout, `child err` and BIG bytes "c" on stderr. */
  subprocess: string;
  /** Closes fd 1 and writes `closed` on stderr. */
  closeStdout: string;
  /** Writes `still here` on stderr. */
  stillHere: string;
  /**
   * Leaves behind a timer/thread that prints about 1 MB on stdout, a short line a moment later, then
   * creates the file `printed`. It starts printing 300 ms after the cell ends: what comes before the
   * server has read the cell's reply is the cell's, and a loaded CI machine once took over 50 ms.
   */
  printLater: string;
  /** Prints `next`. */
  printNext: string;
  /** A subprocess that opens its stdout again by name (/dev/stdout) and writes `by name` to it. */
  stdoutByName: string;
}

const languages: Record<"python" | "typescript", Cells> = {
  python: {
    bothStreams: `import sys
for _ in range(${BIG / 1000}):
    sys.stdout.write('o' * 1000)
    sys.stderr.write('e' * 1000)`,
    subprocess: `import os
status = os.system("printf 'from child'; printf 'child err' >&2; head -c ${BIG} /dev/zero | tr '\\\\0' c >&2")`,
    closeStdout: "import os, sys\nos.close(1)\nprint('closed', file=sys.stderr)",
    stillHere: "print('still here', file=sys.stderr)",
    printLater: `import threading, time
def later():
    time.sleep(0.3)
    for _ in range(5):
        print('tick' * 50_000)
    time.sleep(0.05)
    print('tail')
    open('printed', 'w').close()
threading.Thread(target=later, daemon=True).start()`,
    printNext: "print('next')",
    stdoutByName: `import os\nstatus = os.system("echo 'by name' > /dev/stdout")`,
  },
  typescript: {
    bothStreams: `for (let i = 0; i < ${BIG / 1000}; i++) {
  process.stdout.write("o".repeat(1000));
  process.stderr.write("e".repeat(1000));
}`,
    // stdio inherited: the subprocess writes on the helper's own fds 1 and 2, blocking as any program expects.
    subprocess: `const done = require("node:child_process").execSync("printf 'from child'; printf 'child err' >&2; head -c ${BIG} /dev/zero | tr '\\\\0' c >&2", { stdio: "inherit" });`,
    closeStdout: 'require("node:fs").closeSync(1);\nconsole.error("closed");',
    stillHere: 'console.error("still here");',
    printLater: `const timer = setTimeout(() => {
  for (let i = 0; i < 5; i++) console.log("tick".repeat(50_000));
  setTimeout(() => {
    console.log("tail");
    require("node:fs").writeFileSync("printed", "");
  }, 50);
}, 300);`,
    printNext: 'console.log("next");',
    stdoutByName: `const done = require("node:child_process").execSync("echo 'by name' > /dev/stdout", { stdio: "inherit" });`,
  },
};

for (const [kind, cells] of Object.entries(languages) as [keyof typeof languages, Cells][]) {
  describe(`${kind} cells end on the helper's reply, with all their output`, () => {
    let h: LiveHarness;
    const open = async (flags: Record<string, unknown> = {}) => {
      h = new LiveHarness(flags);
      return h.live.start({ kind });
    };
    afterEach(async () => {
      await h?.close();
    });

    it("returns every byte of large output on both streams, streamed in chunks with offsets that add up", async () => {
      const s = await open();
      const chunks: OutputEvent[] = [];
      h.live.onOutput((e) => chunks.push(e));
      const result = await h.live.exec(s.id, cells.bothStreams);
      expect(result).toMatchObject({ status: "ok", truncated: false });
      expect(result.stdout).toBe("o".repeat(BIG));
      expect(result.stderr).toBe("e".repeat(BIG));
      for (const stream of ["stdout", "stderr"] as const) {
        const mine = chunks.filter((c) => c.session_id === s.id && c.stream === stream);
        // Several reads while the cell ran: it could not have written it all into one pipe-full.
        expect(mine.length).toBeGreaterThan(1);
        let offset = 0;
        for (const chunk of mine) {
          expect(chunk.offset).toBe(offset);
          offset += chunk.data.length;
        }
        expect(offset).toBe(BIG);
      }
      // Nothing of it is left for the next cell.
      expect(await h.live.exec(s.id, cells.printNext)).toMatchObject({ stdout: "next\n", stderr: "" });
    });

    it("includes what a subprocess wrote right before the cell ended, several pipe-fulls of it", async () => {
      const s = await open();
      const result = await h.live.exec(s.id, cells.subprocess);
      expect(result).toMatchObject({ status: "ok", stdout: "from child", stderr: `child err${"c".repeat(BIG)}` });
      expect(await h.live.exec(s.id, cells.printNext)).toMatchObject({ stdout: "next\n", stderr: "" });
    });

    // A grace period longer than the test: a cell that waited for a sign on its fd 1 would never end.
    it("ends a cell that closed its stdout at its reply, and the session goes on", async () => {
      const s = await open({ interruptGraceMs: 60_000 });
      expect(await h.live.exec(s.id, cells.closeStdout)).toMatchObject({ status: "ok", stdout: "", stderr: "closed\n" });
      expect(await h.live.exec(s.id, cells.stillHere)).toMatchObject({ status: "ok", stdout: "", stderr: "still here\n" });
    });

    it("drops what a cell left printing between cells, however much, instead of giving it to the next cell", async () => {
      const s = await open();
      expect(await h.live.exec(s.id, cells.printLater)).toMatchObject({ status: "ok", stdout: "", stderr: "" });
      // About 1 MB: the printer blocks on the full pipe until the reads between cells empty it. Its
      // last line, printed after the read that unblocked it, is still in the pipe when the next
      // cell comes (unless a read between cells happens to fall in that moment).
      const cwd = h.live.describe(s.id)?.cwd;
      expect(cwd).toEqual(expect.any(String));
      const printed = join(cwd!, "printed");
      await eventually(() => existsSync(printed), 10_000, "the printer to finish");
      expect(await h.live.exec(s.id, cells.printNext)).toMatchObject({ status: "ok", stdout: "next\n", stderr: "" });
    });

    it.runIf(sandbox.ok)("lets the session's uid open its stdout again by name inside the sandbox", async () => {
      const s = await open();
      expect(s.runtime_metadata).toMatchObject({ sandbox: "bwrap" });
      expect(await h.live.exec(s.id, cells.stdoutByName)).toMatchObject({ status: "ok", stdout: "by name\n", stderr: "" });
    });
  });
}

describe("python's reply says which pipes are read to the end", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("keeps output read while the cell ran, and reads a pipe the cell put elsewhere than fd 1 to the end", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    // Read by the polls while the cell sleeps: the pipe is empty when the helper replies.
    expect(await h.live.exec(s.id, "import time\nprint('early')\ntime.sleep(0.2)")).toMatchObject({ stdout: "early\n", stderr: "" });
    // fd 1 is a file now: what the file holds unread says nothing of the pipe, written through a copy of its old fd.
    const moved = "import os\nsaved = os.dup(1)\nos.dup2(os.open('moved.txt', os.O_WRONLY | os.O_CREAT), 1)\nn = os.write(saved, b'through the old fd\\n')";
    expect(await h.live.exec(s.id, moved)).toMatchObject({ status: "ok", stdout: "through the old fd\n", stderr: "" });
    expect(await h.live.exec(s.id, "os.dup2(saved, 1)\nprint('back')")).toMatchObject({ status: "ok", stdout: "back\n" });
  });
});
