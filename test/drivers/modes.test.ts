import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { assertModeEnabled, enabledModes } from "../../src/drivers/index.js";
import { LiveHarness, failure } from "./harness.js";

const config = (file: Record<string, unknown> = {}, env: Record<string, string> = {}) => resolveConfig({ file, env: { HOME: "/h", ...env } });

describe("enabling execution modes", () => {
  it("turns every mode off by default, and says how to turn them on", () => {
    expect(enabledModes(config())).toEqual([]);
    expect(() => assertModeEnabled(config(), "shell")).toThrow(
      expect.objectContaining({ code: "validation", field: "kind", message: expect.stringContaining("set ENABLE_SESSIONS=true") }),
    );
  });

  it("turns live sessions on with seed 000's ENABLE_SESSIONS, which SESSIOND_ENABLE_SESSIONS overrides", () => {
    expect(config({}, { ENABLE_SESSIONS: "true" }).enableSessions).toBe(true);
    expect(enabledModes(config({}, { ENABLE_SESSIONS: "true" }))).toEqual(["shell", "python", "typescript", "llm"]);
    expect(config({}, { ENABLE_SESSIONS: "true", SESSIOND_ENABLE_SESSIONS: "false" }).enableSessions).toBe(false);
    expect(config({ enableSessions: true }, { ENABLE_SESSIONS: "false" }).enableSessions).toBe(false);
    expect(() => config({}, { ENABLE_SESSIONS: "maybe" })).toThrow(expect.objectContaining({ field: "config.enableSessions" }));
  });

  it("follows seed 000's executionModes: session turns them on, a kind set to false is off, code covers python and typescript", () => {
    expect(enabledModes(config({ executionModes: { session: true } }))).toEqual(["shell", "python", "typescript", "llm"]);
    expect(enabledModes(config({ executionModes: { session: true, shell: false } }))).toEqual(["python", "typescript", "llm"]);
    expect(enabledModes(config({ executionModes: { session: true, code: false, typescript: true } }))).toEqual(["shell", "typescript", "llm"]);
    // Seed 000's example: per-mode switches on, sessions off — nothing starts.
    expect(enabledModes(config({ executionModes: { shell: true, code: true, llm: true, session: false } }))).toEqual([]);
    expect(() => config({ executionModes: { sesion: true } })).toThrow(expect.objectContaining({ field: "config.executionModes.sesion" }));
  });

  it("refuses an unknown mode, an agent, a mode that is off, or one without a driver, listing the enabled modes", () => {
    const on = config({ executionModes: { session: true, llm: false } });
    const message = (kind: unknown, available?: string[]) => {
      try {
        assertModeEnabled(on, kind, { field: "mode", ...(available ? { available } : {}) });
        return "accepted";
      } catch (err) {
        expect(err).toMatchObject({ code: "validation", field: "mode", status: 400 });
        return (err as Error).message;
      }
    };
    expect(message("shell")).toBe("accepted");
    expect(message("cobol")).toBe("invalid mode: cobol is not an execution mode; enabled modes: shell, python, typescript");
    expect(message("agent")).toMatch(/agent is not an execution mode/);
    expect(message(42)).toMatch(/42 is not an execution mode/);
    expect(message("llm")).toBe("invalid mode: llm is not enabled; enabled modes: shell, python, typescript");
    expect(message("python", ["shell"])).toBe("invalid mode: python has no driver in this build yet; enabled modes: shell");
  });
});

describe("starting a live session", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h.close();
  });

  it("lists the kinds that may start: enabled and with a driver", async () => {
    h = new LiveHarness({ executionModes: { python: false } });
    expect(h.live.kinds()).toContain("shell");
    expect(h.live.kinds()).not.toContain("python");
  });

  it("refuses a kind that is off without creating a session", async () => {
    h = new LiveHarness({ enableSessions: false });
    expect(h.live.kinds()).toEqual([]);
    expect(await failure(h.live.start({ kind: "shell", name: "nope" }))).toMatchObject({ code: "validation", field: "kind", status: 400 });
    expect(await h.manager.find("nope")).toBeUndefined();
  });

  it("answers an exec in a crashed session of a kind that is off with how to turn it on, not 'recover it first'", async () => {
    h = new LiveHarness({ enableSessions: false });
    const shell = await h.manager.create({ name: "left", kind: "shell", mode: "shell" });
    await h.manager.crash(shell.id, "the server that ran it stopped");
    expect(await failure(h.live.exec("left", "true"))).toMatchObject({ code: "validation", field: "kind", message: expect.stringContaining("set ENABLE_SESSIONS=true") });
  });

  it("refuses a kind that is off, a target the driver lacks, and bad start options, naming the field", async () => {
    h = new LiveHarness({ executionModes: { python: false } });
    expect(await failure(h.live.start({ kind: "python" }))).toMatchObject({ code: "validation", field: "kind", message: expect.stringContaining("enabled modes: shell") });
    expect(await failure(h.live.start({ kind: "shell", server: "mars" }))).toMatchObject({ code: "validation", field: "server", message: expect.stringContaining("supported: local, ssh") });
    expect(await failure(h.live.start({ kind: "shell", server: "ssh" }))).toMatchObject({ code: "validation", field: "server_options.host" });
    expect(await failure(h.live.start({ kind: "shell", exec_policy: "maybe" as never }))).toMatchObject({ code: "validation", field: "exec_policy" });
    expect(await failure(h.live.start({ kind: "shell", env: { "BAD NAME": "x" } }))).toMatchObject({ code: "validation", field: expect.stringMatching(/^env/) });
    expect(await failure(h.live.start({ kind: "shell", cols: 0 }))).toMatchObject({ code: "validation", field: "cols" });
    expect(await failure(h.live.start({ kind: "shell", cwd: "relative/dir" }))).toMatchObject({ code: "validation", field: "cwd" });
    expect((await h.manager.list()).items).toEqual([]);
  });

  it("refuses to exec in an agent session", async () => {
    h = new LiveHarness();
    await h.manager.create({ name: "record" });
    expect(await failure(h.live.exec("record", "true"))).toMatchObject({ code: "conflict", status: 409 });
  });
});
