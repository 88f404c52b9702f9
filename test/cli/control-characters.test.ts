/**
 * Text a session holds cannot drive the terminal of whoever reads it with the CLI: human output
 * writes control characters out (`\e`, `\r`, `\x07`, `\u009b`), `--json` stays exact JSON.
 * The formatting functions directly, then the real commands against a server they start.
 */
import { afterAll, describe, expect, it } from "vitest";
import { display, humanText, keyValues, table, visible } from "../../src/cli/output.js";
import { cliHome, useCompiledCli } from "./run-cli.js";

const SLOW = { timeout: 120_000 };
useCompiledCli();

/** An OSC 52 clipboard write, a window title, a carriage return and an erase-line, a bell, a C1 CSI. */
const HOSTILE = "fix\u001b]52;c;cm0gLXJmIH4=\u0007 it\u001b]0;pwned\u0007\r\u001b[2Kall good\u009b31m\u007f";
const SHOWN = "fix\\e]52;c;cm0gLXJmIH4=\\x07 it\\e]0;pwned\\x07\\r\\e[2Kall good\\u009b31m\\x7f";

/** Whether the text holds a control character other than a newline. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe("visible and the human output functions", () => {
  it("writes out every C0, DEL and C1 control: the usual ones by name, the rest by code", () => {
    expect(visible(HOSTILE)).toBe(SHOWN);
    expect(visible("a\tb\nc\u0000d\u001fe")).toBe("a\\tb\\nc\\x00d\\x1fe");
    expect(visible("plain text, ünïcode ✓, a \\ backslash")).toBe("plain text, ünïcode ✓, a \\ backslash");
  });

  it("shows a string or JSON value on one line, its C1 controls written out too", () => {
    expect(display("line one\nline two")).toBe("line one\\nline two");
    expect(display({ note: "\u009b2J" })).toBe('{"note":"\\u009b2J"}');
    expect(keyValues([["task", HOSTILE]])).toBe(`task: ${SHOWN}\n`);
  });

  it("keeps a table aligned on the written-out text", () => {
    const text = table([{ a: "x\u001b[2Ky", b: "1" }, { a: "plain", b: "2" }], [
      { header: "A", value: (r) => r.a },
      { header: "B", value: (r) => r.b },
    ]);
    const lines = text.trimEnd().split("\n");
    expect(lines[1]).toBe("x\\e[2Ky  1");
    expect(lines[2]!.indexOf("2")).toBe(lines[1]!.indexOf("1"));
  });

  it("leaves newlines, tabs and (with colour on) the CLI's own colour codes in output, and writes out every other control", () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    const saved = { NO_COLOR: process.env.NO_COLOR, FORCE_COLOR: process.env.FORCE_COLOR };
    delete process.env.NO_COLOR;
    delete process.env.FORCE_COLOR;
    try {
      expect(humanText("\u001b[32mactive\u001b[0m\tok\n", tty)).toBe("\u001b[32mactive\u001b[0m\tok\n");
      expect(humanText("\u001b[32mactive\u001b[0m\n", pipe)).toBe("\\e[32mactive\\e[0m\n");
      expect(humanText(`${HOSTILE}\n`, tty)).toBe(`${SHOWN}\n`);
    } finally {
      for (const [key, value] of Object.entries(saved)) if (value !== undefined) process.env[key] = value;
    }
  });
});

describe("the commands' human output", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("writes out the controls of a task in list and show, and keeps them exact in --json", async () => {
    const started = await h.json<{ id: string; task: string }>(["start", "--name", "hostile", "--task", HOSTILE, "--label", `note=a\u001b[2Jb`]);
    expect(started.task).toBe(HOSTILE);

    const list = await h.run(["list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toMatch(RAW_CONTROL);
    expect(list.stdout).toContain("fix\\e]52;c;");

    const show = await h.run(["show", "hostile"]);
    expect(show.stdout).not.toMatch(RAW_CONTROL);
    expect(show.stdout).toContain(`task:`);
    expect(show.stdout).toContain(SHOWN);
    expect(show.stdout).toContain('"note":"a\\u001b[2Jb"');

    const json = await h.run(["show", "hostile", "--json"]);
    expect(JSON.parse(json.stdout).task).toBe(HOSTILE);
    const listed = await h.json<{ items: { task: string }[] }>(["list"]);
    expect(listed.items[0]!.task).toBe(HOSTILE);
  });

  it("writes out the controls of events in trace and events, and in an error's message", async () => {
    expect((await h.run(["emit", "hostile", "note", JSON.stringify({ text: "\u009b2J", label: "x" })])).code).toBe(0);
    expect((await h.run(["checkpoint", "create", "hostile", "--label", "cp\u001b]0;t\u0007"])).code).toBe(0);
    for (const command of [["trace", "hostile"], ["events", "hostile"], ["checkpoint", "list", "hostile"]]) {
      const out = await h.run(command);
      expect(out.code, command.join(" ")).toBe(0);
      expect(out.stdout, command.join(" ")).not.toMatch(RAW_CONTROL);
    }
    expect((await h.run(["trace", "hostile"])).stdout).toContain("\\u009b2J");
    const missing = await h.run(["show", "no\u001b]0;such\u0007"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).not.toMatch(RAW_CONTROL);
    expect(missing.stderr).toContain("no\\e]0;such\\x07");
  });
});
