import { describe, expect, it } from "vitest";
import { MAX_TERMINAL_LINE_BYTES, TerminalInput } from "../../src/cli/terminal-input.js";

/** Feeds `chunks` in turn, then the end: the text it passes, or the first refusal. */
function feed(...chunks: (string | Uint8Array)[]): { text: string } | { refused: string } {
  const input = new TerminalInput();
  let text = "";
  for (const chunk of chunks) {
    const taken = input.take(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    if ("refused" in taken) return taken;
    text += taken.text;
  }
  const rest = input.end();
  return "refused" in rest ? rest : { text: text + rest.text };
}

describe("input for a session's terminal (exec --stdin)", () => {
  it("passes text, tabs and escape sequences, and characters split between chunks", () => {
    const euro = Buffer.from("€");
    expect(feed("a\tb\x1b[1mc\n", euro.subarray(0, 1), Buffer.concat([euro.subarray(1), Buffer.from("\n")]))).toEqual({ text: "a\tb\x1b[1mc\n€\n" });
  });

  it("refuses what a terminal in line mode acts on, naming the byte", () => {
    expect(feed("ok\n", "x\x03")).toEqual({ refused: "the control character ^C (0x03) at byte 4" });
    expect(feed("a\x04")).toEqual({ refused: "the control character ^D (0x04) at byte 1" });
    expect(feed("a\r\n")).toEqual({ refused: "the control character \\r (0x0d) at byte 1" });
    expect(feed("a\x7f")).toEqual({ refused: "the control character DEL (0x7f) at byte 1" });
  });

  it("takes a line of the terminal's length, across chunks, and refuses one byte more", () => {
    const half = "y".repeat(Math.ceil(MAX_TERMINAL_LINE_BYTES / 2));
    expect(feed(`a\n${half}`, `${half.slice(1)}\n`)).toEqual({ text: `a\n${half}${half.slice(1)}\n` });
    expect(feed(`a\n${half}`, half)).toEqual({ refused: `a line longer than ${MAX_TERMINAL_LINE_BYTES} bytes (from byte 2)` });
  });

  it("refuses bytes that are not UTF-8, and a character cut off at the end", () => {
    expect(feed("ok\n", new Uint8Array([0xff, 0x0a]))).toEqual({ refused: "bytes that are not UTF-8 (before byte 5)" });
    expect(feed(Buffer.from("€").subarray(0, 2))).toEqual({ refused: "a UTF-8 character cut off at the end" });
  });
});
