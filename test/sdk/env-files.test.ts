import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closeSessions, configureSessions, startSession } from "../../src/index.js";
import { readEnvFiles } from "../../src/sdk/env-files.js";
import { envLayout } from "../helpers/env-layout.js";

/** The `.env` files of the working directory and the data dir, read from real files in temp dirs. */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A project folder and a data dir, each 0700, with the given `.env` contents (0600). */
function layout(files: { cwd?: string; home?: string }) {
  const { root, cwd, home } = envLayout(dirs, files);
  return { cwd, home, env: { HOME: root, SESSIOND_HOME: home } };
}

describe("readEnvFiles", () => {
  it("takes the working directory's over the data dir's, and the environment over both", () => {
    const { cwd, home, env } = layout({
      cwd: "ENABLE_SESSIONS=true\nSESSIOND_PORT=9001\n",
      home: "ENABLE_SESSIONS=false\nSESSIOND_PORT=9002\nSESSIOND_LOG_LEVEL=debug\nSESSIOND_HOST=10.0.0.1\n",
    });
    const read = readEnvFiles({ env: { ...env, SESSIOND_HOST: "127.0.0.2" }, cwd });
    expect(read.values).toEqual({ ENABLE_SESSIONS: "true", SESSIOND_PORT: "9001", SESSIOND_LOG_LEVEL: "debug" });
    expect(read.files).toEqual([join(cwd, ".env"), join(home, ".env")]);
    expect(read.warnings).toEqual([]);
  });

  it("leaves a variable the environment sets to the empty string alone", () => {
    const { cwd, env } = layout({ cwd: "ENABLE_SESSIONS=true\n" });
    expect(readEnvFiles({ env: { ...env, ENABLE_SESSIONS: "" }, cwd }).values).toEqual({});
  });

  it("does not read a working directory's .env inside the data dir (a session's workspace: sessions and uploads write there)", () => {
    const { home, env } = layout({});
    const workspace = join(home, "workspaces", "mallory", "files");
    mkdirSync(workspace, { recursive: true });
    writeFileSync(join(workspace, ".env"), "SESSIOND_SANDBOX=none\nSESSIOND_DRIVER_MODULES=./evil.mjs\n", { mode: 0o600 });
    const read = readEnvFiles({ env, cwd: workspace });
    expect(read.values).toEqual({});
    expect(read.warnings).toEqual([`${join(workspace, ".env")}: not read: the working directory is inside the data dir, where sessions write files`]);
  });

  it("takes only sessiond's names: the rest of a project's .env is the project's", () => {
    const { cwd, env } = layout({ cwd: "DATABASE_URL=postgres://x\nPATH=/evil\nOPENAI_API_KEY=sk-1\nSESSIOND_SANDBOX=none\n" });
    expect(readEnvFiles({ env, cwd }).values).toEqual({ OPENAI_API_KEY: "sk-1", SESSIOND_SANDBOX: "none" });
  });

  it("finds the data dir's .env through the working directory's SESSIOND_HOME, and ignores SESSIOND_HOME in the data dir's own", () => {
    const { cwd, home } = layout({ home: "SESSIOND_PORT=9100\nSESSIOND_HOME=/elsewhere\n" });
    writeFileSync(join(cwd, ".env"), `SESSIOND_HOME=${home}\n`, { mode: 0o600 });
    const read = readEnvFiles({ env: { HOME: "/nonexistent" }, cwd });
    expect(read.values).toEqual({ SESSIOND_HOME: home, SESSIOND_PORT: "9100" });
    expect(read.warnings).toEqual([`${join(home, ".env")}: SESSIOND_HOME ignored: the data dir's own .env cannot move the data dir`]);
  });

  it("reads the data dir named by the flag over SESSIOND_HOME", () => {
    const { home, env } = layout({ home: "SESSIOND_PORT=1\n" });
    const other = layout({ home: "SESSIOND_PORT=2\n" });
    expect(readEnvFiles({ env: { ...env, SESSIOND_HOME: other.home }, home }).values).toEqual({ SESSIOND_PORT: "1" });
  });

  it("reads nothing, without a word, when there is no .env", () => {
    const { cwd, env } = layout({});
    expect(readEnvFiles({ env, cwd })).toEqual({ values: {}, files: [], warnings: [] });
  });

  it("warns naming the file and line of a malformed line, and still reads the lines after it", () => {
    const { cwd, env } = layout({ cwd: "# settings\nSESSIOND_PORT=9001\nENABLE SESSIONS true\n\nENABLE_SESSIONS=true\n" });
    const read = readEnvFiles({ env, cwd });
    expect(read.values).toEqual({ SESSIOND_PORT: "9001", ENABLE_SESSIONS: "true" });
    expect(read.warnings).toEqual([`${join(cwd, ".env")}:3: not KEY=VALUE, ignored`]);
  });

  it("reads quoted values, export prefixes and comments as dotenv does, and a value spanning lines without a warning", () => {
    const { cwd, env } = layout({ cwd: 'export SESSIOND_LLM_MODEL="m-1" # the model\nSESSIOND_LLM_SYSTEM_PROMPT="one\ntwo = three"\nSESSIOND_HOST=\'0.0.0.0\'\n' });
    const read = readEnvFiles({ env, cwd });
    expect(read.values).toEqual({ SESSIOND_LLM_MODEL: "m-1", SESSIOND_LLM_SYSTEM_PROMPT: "one\ntwo = three", SESSIOND_HOST: "0.0.0.0" });
    expect(read.warnings).toEqual([]);
  });

  it("warns of a quote that is never closed, naming the line and the name", () => {
    const { cwd, env } = layout({ cwd: 'SESSIOND_LLM_MODEL="m-1\n' });
    const read = readEnvFiles({ env, cwd });
    expect(read.warnings).toEqual([`${join(cwd, ".env")}:1: the " that opens SESSIOND_LLM_MODEL's value is never closed; the value is read as written`]);
    expect(read.values.SESSIOND_LLM_MODEL).toBe('"m-1');
  });

  it("refuses a .env that group or others may write, naming the file and the fix", () => {
    const { cwd, env } = layout({ cwd: "SESSIOND_SHELL_PATH=/tmp/not-a-shell\n" });
    const file = join(cwd, ".env");
    chmodSync(file, 0o620);
    expect(() => readEnvFiles({ env, cwd })).toThrow(`invalid ${file}: group or others may write it (run chmod go-w ${file})`);
    chmodSync(file, 0o602);
    expect(() => readEnvFiles({ env, cwd })).toThrow(/group or others may write it/);
  });

  it("refuses a .env that is not a regular file", () => {
    const { cwd, env } = layout({});
    mkdirSync(join(cwd, ".env"));
    expect(() => readEnvFiles({ env, cwd })).toThrow(`invalid ${join(cwd, ".env")}: it is not a regular file`);
  });

  it("warns when a .env holding a secret is readable by group or others", () => {
    const { cwd, env } = layout({ cwd: "OPENAI_API_KEY=sk-1\nSESSIOND_PORT=1\n" });
    const file = join(cwd, ".env");
    chmodSync(file, 0o644);
    const read = readEnvFiles({ env, cwd });
    expect(read.values.OPENAI_API_KEY).toBe("sk-1");
    expect(read.warnings).toEqual([`${file}: holds OPENAI_API_KEY and group or others may read it (run chmod 600 ${file})`]);
    chmodSync(file, 0o600);
    expect(readEnvFiles({ env, cwd }).warnings).toEqual([]);
  });
});

describe("the embedded API and .env", () => {
  afterEach(async () => {
    await closeSessions();
  });

  it("reads the data dir's .env, warning of a malformed line through process warnings", async () => {
    const { home } = layout({ home: "SESSIOND_DEFAULT_MAX_ITERATIONS=7\noops\n" });
    const warnings: string[] = [];
    const listen = (w: Error) => warnings.push(w.message);
    process.on("warning", listen);
    try {
      configureSessions({ home });
      const session = await startSession("task", "researcher");
      expect(session.maxIterations).toBe(7);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings).toContain(`sessiond: ${join(home, ".env")}:2: not KEY=VALUE, ignored`);
    } finally {
      process.off("warning", listen);
    }
  });

  it("refuses a data dir whose .env others may write, in the error shape", () => {
    const { home } = layout({ home: "SESSIOND_DEFAULT_MAX_ITERATIONS=7\n" });
    chmodSync(join(home, ".env"), 0o666);
    expect(() => configureSessions({ home })).toThrow(expect.objectContaining({ code: "validation", message: expect.stringContaining(`${join(home, ".env")}: group or others may write it`) }));
  });
});
