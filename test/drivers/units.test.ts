import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ExecQueue } from "../../src/drivers/exec-queue.js";
import { encodeOutput, OutputCapture, withoutPartialTail } from "../../src/drivers/output.js";
import { overLimit } from "../../src/drivers/reaper.js";
import { parseExports } from "../../src/drivers/shell/export-parse.js";
import { MarkerScanner, parsePayload } from "../../src/drivers/shell/markers.js";
import { ansiCPieces } from "../../src/drivers/shell/quote.js";

const bash = (script: string, env: Record<string, string> = {}) =>
  spawnSync("bash", ["--norc", "--noprofile", "-c", script], { env: { PATH: process.env.PATH!, ...env } }).stdout;

describe("ANSI-C quoting of commands", () => {
  it("spells every byte back exactly in bash, split into short printable pieces", () => {
    const all = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1)).toString("latin1");
    const text = `${all} it's a \\ "test" — ünïcödé 🎉 ${"x".repeat(5000)}`;
    const pieces = ansiCPieces(text, 100);
    expect(pieces.length).toBeGreaterThan(50);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(100);
      expect(piece).toMatch(/^[\x20-\x7e]*$/);
    }
    const script = `printf '%s' ${pieces.map((p) => `$'${p}'`).join("")}`;
    expect(bash(script)).toEqual(Buffer.from(text, "utf8"));
  });
});

describe("marker scanning", () => {
  it("finds a marker split across any two chunks, handing on everything before it", () => {
    const needle = Buffer.from("\x1b]6973;abc;");
    const stream = Buffer.from("hello \x1b]6973 not it \x1b]6973;abc;0;\x07tail");
    for (let cut = 0; cut <= stream.length; cut++) {
      const scanner = new MarkerScanner(needle);
      const first = scanner.feed(stream.subarray(0, cut));
      const before = [first.before];
      // Once found, what follows the marker in later chunks is the caller's to read.
      let match: Buffer | undefined = first.match && Buffer.concat([first.match, stream.subarray(cut)]);
      if (!match) {
        const second = scanner.feed(stream.subarray(cut));
        before.push(second.before);
        match = second.match;
      }
      expect(Buffer.concat(before).toString()).toBe("hello \x1b]6973 not it ");
      expect(match?.toString()).toBe("\x1b]6973;abc;0;\x07tail");
    }
  });

  it("parses the end-of-exec payload: status, and a cwd of any bytes by length", () => {
    expect(parsePayload(Buffer.from("0;\x07"))).toEqual({ status: 0, length: 3 });
    expect(parsePayload(Buffer.from("130;4:/a\x07b\x07rest"))).toEqual({ status: 130, cwd: "/a\x07b", length: 11 });
    expect(parsePayload(Buffer.from("1;4:/ab"))).toBeUndefined();
    expect(parsePayload(Buffer.from("1"))).toBeUndefined();
    expect(parsePayload(Buffer.from("x;\x07"))).toBeNull();
    // A cwd longer than any path (PATH_MAX) is no marker of ours: refused at once, not waited for.
    expect(parsePayload(Buffer.from("0;4096:"))).toBeUndefined();
    expect(parsePayload(Buffer.from("0;4097:"))).toBeNull();
    expect(parsePayload(Buffer.from("0;999999999:/"))).toBeNull();
    // Only bash's own way of writing a number: decimal digits, no sign, space, base or exponent.
    for (const status of ["0x10", "1e2", " 7", "+7", "-0", "07", "", "1.0"]) expect(parsePayload(Buffer.from(`${status};\x07`)), status).toBeNull();
    for (const size of ["0x4", " 4", "4e0", "04"]) expect(parsePayload(Buffer.from(`0;${size}:/a/b\x07`)), size).toBeNull();
  });
});

describe("export -p parsing", () => {
  it("reads back what bash prints for awkward values, in C and UTF-8 locales", () => {
    const values = { PLAIN: "v", QUOTES: 'a "b" \'c\' $d `e` \\f', LINES: "one\ntwo\n", CTRL: "\x01\t\x7f", UNI: "é 🎉", EMPTY: "" };
    for (const LANG of ["C", "C.UTF-8"]) {
      const out = bash("unset PWD OLDPWD SHLVL _; export -n PATH; export DECLARED_ONLY; export -p", { ...values, LANG, LC_ALL: LANG });
      expect(parseExports(out)).toEqual({ ...values, LANG, LC_ALL: LANG });
    }
  });
});

describe("output capture", () => {
  it("shares one budget between the streams and reports offsets per stream", () => {
    const chunks: string[] = [];
    const capture = new OutputCapture(10, (c) => chunks.push(`${c.stream}@${c.offset}:${c.data}`));
    capture.push("stdout", Buffer.from("abcd"));
    capture.push("stderr", Buffer.from("123"));
    capture.push("stdout", Buffer.from("efghij"));
    capture.push("stderr", Buffer.from("45"));
    expect(chunks).toEqual(["stdout@0:abcd", "stderr@0:123", "stdout@4:efg"]);
    expect(capture.bytes("stdout").toString()).toBe("abcdefg");
    expect(capture.truncated).toBe(true);
  });

  it("drops a character cut in half by the cap instead of calling the output binary", () => {
    const euro = Buffer.from("ab€", "utf8");
    expect(withoutPartialTail(euro.subarray(0, 4)).toString()).toBe("ab");
    expect(encodeOutput(euro.subarray(0, 4), true)).toEqual({ text: "ab" });
    expect(encodeOutput(Buffer.from([0x61, 0xff]), false)).toEqual({ text: "a\ufffd", base64: "Yf8=" });
  });

  it("shows a NUL byte as U+FFFD and keeps the exact bytes, since the stores keep no NUL in text", () => {
    expect(encodeOutput(Buffer.from([0x61, 0x00, 0x62]), false)).toEqual({ text: "a\ufffdb", base64: "YQBi" });
  });
});

describe("the exec queue", () => {
  it("runs tasks one at a time in order, refuses past its cap, and rejects the waiting on clear", async () => {
    const queue = new ExecQueue(2);
    const log: string[] = [];
    const task = (name: string, ms: number) => () => new Promise<string>((r) => setTimeout(() => (log.push(name), r(name)), ms));
    const a = queue.run(task("a", 30));
    const b = queue.run(task("b", 1));
    const c = queue.run(task("c", 1));
    await expect(queue.run(task("d", 1))).rejects.toMatchObject({ code: "rate_limited" });
    const first = queue.run(task("internal", 1), { front: true, internal: true });
    expect(await Promise.all([a, b, c, first])).toEqual(["a", "b", "c", "internal"]);
    expect(log).toEqual(["a", "internal", "b", "c"]);
    const blocked = queue.run(task("e", 20));
    const waiting = queue.run(task("f", 1));
    queue.clear(new Error("stopped"));
    await expect(waiting).rejects.toThrow("stopped");
    expect(await blocked).toBe("e");
    await queue.idle();
  });
});

describe("the reaper's limits", () => {
  const limits = { idleTimeoutMs: 100, maxLifetimeMs: 1000 };
  it("names the limit a live session is past, and counts a running exec as activity", () => {
    expect(overLimit({ startedAt: 0, lastActivity: 0, busy: false }, 50, limits)).toBeUndefined();
    expect(overLimit({ startedAt: 0, lastActivity: 0, busy: false }, 150, limits)).toMatch(/^idle_timeout/);
    expect(overLimit({ startedAt: 0, lastActivity: 0, busy: true }, 150, limits)).toBeUndefined();
    expect(overLimit({ startedAt: 0, lastActivity: 990, busy: false }, 1000, limits)).toMatch(/^max_lifetime/);
    expect(overLimit({ startedAt: 0, lastActivity: 0, busy: false }, 1e9, { idleTimeoutMs: 0, maxLifetimeMs: 0 })).toBeUndefined();
  });
});

describe("ExecBook", () => {
  it("tracks queued → running → finished, forgets refused execs and the oldest finished past its cap", async () => {
    const { ExecBook } = await import("../../src/drivers/exec-book.js");
    const book = new ExecBook(2);
    book.add("a", false);
    expect(book.get("a")?.state).toBe("queued");
    book.running("a");
    expect(book.get("a")?.state).toBe("running");
    const result = { exec_id: "a" } as never;
    book.finish("a", result);
    expect(book.get("a")).toMatchObject({ state: "finished", result });
    book.add("refused", true);
    book.finish("refused");
    expect(book.get("refused")).toBeUndefined();
    for (const id of ["b", "c"]) {
      book.add(id, false);
      book.finish(id, { exec_id: id } as never);
    }
    expect(book.get("a")).toBeUndefined();
    expect(book.get("c")?.state).toBe("finished");
  });
});

describe("backgroundCommand", () => {
  it("starts the input as a job with its output in a log, quoting any path, and prints the pid", async () => {
    const { execFileSync } = await import("node:child_process");
    const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { backgroundCommand } = await import("../../src/drivers/background-jobs.js");
    const dir = mkdtempSync(join(tmpdir(), "sessiond-bg-"));
    try {
      const log = join(dir, "it's here", "bg.log");
      const out = execFileSync("bash", ["-c", `${backgroundCommand("echo one; echo two >&2", log)}\nwait`], { encoding: "utf8" });
      expect(Number(out.trim())).toBeGreaterThan(0);
      expect(readFileSync(log, "utf8")).toBe("one\ntwo\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("MarkerStripper", () => {
  it("turns a lone LF into CR LF across chunk boundaries, and keeps CR LF as is", async () => {
    const { MarkerStripper } = await import("../../src/drivers/shell/terminal-tap.js");
    const s = new MarkerStripper();
    const out = [s.feed(Buffer.from("a\r")), s.feed(Buffer.from("\nb\n")), s.feed(Buffer.from("\x1b]6973;x;0;\x07")), s.feed(Buffer.from("\n"))];
    expect(Buffer.concat(out).toString("latin1")).toBe("a\r\nb\r\n\r\n");
  });
});
