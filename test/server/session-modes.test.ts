import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeOpenAI } from "../drivers/support/fake-openai.js";
import { type TestServer, startServer } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

/**
 * Seed 000's session routes as written: GET /session/list's `{id, mode, server, state}`, `mode`
 * on the session record, each mode's start options (python's interpreter, llm's model, base_url
 * and api_key) with their refusals, an llm session without a key, and `server: "ssm"`.
 */

let server: TestServer | undefined;
let fake: FakeOpenAI | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  await server?.close();
  await fake?.close();
  server = undefined;
  fake = undefined;
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function enabled(flags: Record<string, unknown> = {}): Promise<TestServer> {
  server = await startServer({ enableSessions: true, ...flags });
  return server;
}

async function start(s: TestServer, body: Record<string, unknown>) {
  return s.json({ method: "POST", url: "/session/start", body });
}

/** A copy of /usr/bin/python3 in a folder of the host's /tmp, which no sandbox shows. */
function pythonOutsideTheSandbox(): { dir: string; copy: string } {
  const dir = mkdtempSync(join(tmpdir(), "sessiond-interp-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, "python3");
  copyFileSync("/usr/bin/python3", copy);
  chmodSync(copy, 0o755);
  return { dir, copy };
}

async function exec(s: TestServer, id: string, input: string) {
  return (await s.json({ method: "POST", url: `/session/${id}/exec`, body: { input } })).body;
}

async function sessionCount(s: TestServer): Promise<number> {
  return (await s.json({ method: "GET", url: "/sessions/" })).body.length;
}

describe("GET /session/list", () => {
  it("shows each live session as seed 000's {id, mode, server, state}, state being what it keeps across execs", async () => {
    const s = await enabled();
    const shell = (await start(s, { mode: "shell", server: "local" })).body.id as string;
    const python = (await start(s, { mode: "python" })).body.id as string;
    await exec(s, shell, "cd /tmp");
    await exec(s, python, "import os; os.chdir('/usr')");

    const list = await s.json({ method: "GET", url: "/session/list" });
    expect(list.status).toBe(200);
    const byId = new Map(list.body.map((item: { id: string }) => [item.id, item]));
    expect(byId.get(shell)).toMatchObject({
      id: shell,
      mode: "shell",
      server: "local",
      state: { status: "live", cwd: "/tmp", paused: false, running_exec_id: null, queued: 0 },
      // What clients read before the seed's fields were there.
      session_id: shell,
      kind: "shell",
      cwd: "/tmp",
    });
    expect(byId.get(python)).toMatchObject({ id: python, mode: "python", server: "local", state: { status: "live", cwd: "/usr" } });

    // The items are what /openapi.json says they are.
    const spec = (await s.json({ method: "GET", url: "/openapi.json", token: null })).body;
    const schema = spec.paths["/session/list"].get.responses["200"].content["application/json"].schema;
    expect(schema.items.required).toEqual(expect.arrayContaining(["id", "mode", "server", "state"]));
    const ajv = new Ajv({ strict: false });
    addFormats.default(ajv);
    const check = ajv.compile(schema);
    expect(check(list.body), JSON.stringify(check.errors)).toBe(true);
    // A string state (what the list said before) is not what the document describes.
    expect(check([{ ...list.body[0], state: "live" }])).toBe(false);
  });

  it("shows an llm session's state without a working directory: its conversation is no place on disk", async () => {
    fake = await FakeOpenAI.start();
    const s = await enabled({ llmBaseUrl: fake.baseUrl });
    const id = (await start(s, { mode: "llm" })).body.id as string;
    const [item] = (await s.json({ method: "GET", url: "/session/list" })).body;
    expect(item).toMatchObject({ id, mode: "llm", server: "local", state: { status: "live", cwd: null }, cwd: null });
  });
});

describe("mode on the session record", () => {
  it("is the kind of a live session, on GET /sessions/{id}, in the list filter and in the stats", async () => {
    const s = await enabled();
    const started = (await start(s, { mode: "python" })).body.id as string;
    expect((await s.json({ method: "GET", url: `/sessions/${started}` })).body).toMatchObject({ kind: "python", mode: "python" });
    const created = await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", name: "sh" } });
    expect(created.body).toMatchObject({ kind: "shell", mode: "shell" });
    const agent = await s.json({ method: "POST", url: "/sessions/", body: { name: "record", mode: "developer" } });
    expect(agent.body).toMatchObject({ kind: "agent", mode: "developer" });

    const pythons = await s.json({ method: "GET", url: "/sessions/?mode=python" });
    expect(pythons.body.map((x: { id: string }) => x.id)).toEqual([started]);
    expect((await s.json({ method: "GET", url: "/stats" })).body.by_mode).toMatchObject({ python: 1, shell: 1, developer: 1 });

    const spec = (await s.json({ method: "GET", url: "/openapi.json", token: null })).body;
    expect(JSON.stringify(spec.components.schemas.Session.properties.mode)).toContain("a live session's mode: its kind");
  });

  it("refuses a live session whose mode is not its kind, naming mode, and starts nothing", async () => {
    const s = await enabled();
    const res = await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", mode: "developer" } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "mode" });
    expect(res.body.error.message).toContain("shell");
    expect(await sessionCount(s)).toBe(0);
    expect(s.app.sessiond.live.liveCount).toBe(0);
  });
});

describe("a mode's start options", () => {
  it.each([
    ["interpreter", "shell", { interpreter: "/usr/bin/python3" }, "python"],
    ["model", "python", { model: "gpt-4o-mini" }, "llm"],
    ["base_url", "shell", { base_url: "http://127.0.0.1:9/v1" }, "llm"],
    ["api_key", "python", { api_key: "sk-not-for-python" }, "llm"],
  ])("refuses %s for a %s session, naming the field and the modes that take it", async (field, mode, options, owner) => {
    const s = await enabled();
    const res = await start(s, { mode, ...options });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field });
    expect(res.body.error.message).toContain(`only of ${owner}`);
    expect(await sessionCount(s)).toBe(0);
  });

  it("refuses an option no mode has, naming it", async () => {
    const s = await enabled();
    const res = await start(s, { mode: "python", python_path: "/usr/bin/python3" });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "python_path" });
  });

  it("refuses mode options on a session of no mode (an agent record), naming the option", async () => {
    const s = await enabled();
    const res = await s.json({ method: "POST", url: "/sessions/", body: { name: "record", interpreter: "/usr/bin/python3" } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "interpreter" });
    expect(res.body.error.message).toContain("only for a session of an exec kind");
  });
});

describe("a python session's interpreter", () => {
  it("runs the interpreter the start names, and a recovered process runs it again", async () => {
    const s = await enabled();
    const id = (await start(s, { mode: "python", interpreter: "/usr/bin/python3" })).body.id as string;
    expect((await exec(s, id, "import sys; print(sys.executable)")).stdout).toBe("/usr/bin/python3\n");
    const session = (await s.json({ method: "GET", url: `/sessions/${id}` })).body;
    expect(session.runtime_metadata.mode_options).toEqual({ interpreter: "/usr/bin/python3" });

    process.kill(s.app.sessiond.live.describe(id)!.pid!, "SIGKILL");
    await waitFor(async () => (await s.json({ method: "GET", url: `/sessions/${id}` })).body.status === "crashed");
    expect((await s.json({ method: "POST", url: `/sessions/${id}/recover` })).status).toBe(200);
    expect((await exec(s, id, "import sys; print(sys.executable)")).stdout).toBe("/usr/bin/python3\n");
  });

  it("does not restart on options a PATCH made invalid: the session is crashed again, the reason naming the field", async () => {
    const s = await enabled();
    const id = (await start(s, { mode: "python", interpreter: "/usr/bin/python3" })).body.id as string;
    const before = (await s.json({ method: "GET", url: `/sessions/${id}` })).body;
    const patched = await s.json({ method: "PATCH", url: `/sessions/${id}`, body: { runtime_metadata: { ...before.runtime_metadata, mode_options: { interpreter: "python3" } } } });
    expect(patched.status).toBe(200);
    process.kill(s.app.sessiond.live.describe(id)!.pid!, "SIGKILL");
    await waitFor(async () => (await s.json({ method: "GET", url: `/sessions/${id}` })).body.status === "crashed");
    // The recover is accepted; the process restarts on its event, and that start refuses.
    expect((await s.json({ method: "POST", url: `/sessions/${id}/recover` })).status).toBe(200);
    await waitFor(async () => (await s.json({ method: "GET", url: `/sessions/${id}/events?type=crash` })).body.length === 2);
    const crashes = (await s.json({ method: "GET", url: `/sessions/${id}/events?type=crash` })).body;
    expect(crashes[1].data.reason).toContain("invalid runtime_metadata.mode_options.interpreter");
    expect((await s.json({ method: "GET", url: `/sessions/${id}` })).body.status).toBe("crashed");
    expect(s.app.sessiond.live.liveCount).toBe(0);
  });

  it("uses config pythonPath without one", async () => {
    const s = await enabled();
    const id = (await s.json({ method: "POST", url: "/sessions/", body: { kind: "python" } })).body.id as string;
    const out = (await s.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "import sys; print(sys.executable)" } })).body.stdout as string;
    expect(out.startsWith("/")).toBe(true);
    expect((await s.json({ method: "GET", url: `/sessions/${id}` })).body.runtime_metadata.mode_options).toBeUndefined();
  });

  it("refuses one that is not an absolute path to an executable file, naming interpreter, and creates no session", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-interp-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const plain = join(dir, "python3");
    writeFileSync(plain, "#!/bin/sh\n");
    chmodSync(plain, 0o644);
    const s = await enabled();
    for (const [interpreter, why] of [
      ["python3", "absolute path"],
      // Outside what the sandbox shows, whether it exists is not told.
      ["/nonexistent/bin/python3", "not visible inside the session's sandbox"],
      [plain, "not visible inside the session's sandbox"],
      [`/usr/..${plain}`, "not visible inside the session's sandbox"],
      ["/usr/../nonexistent/bin/python3", "not visible inside the session's sandbox"],
      ["/usr/bin", "not an executable file"],
      ["/usr/bin/no-such-python", "not an executable file"],
    ] as const) {
      const res = await start(s, { mode: "python", interpreter });
      expect(res.status, interpreter).toBe(400);
      expect(res.body.error, interpreter).toMatchObject({ code: "validation", field: "interpreter" });
      expect(res.body.error.message, interpreter).toContain(why);
    }
    expect(await sessionCount(s)).toBe(0);
  });

  it("refuses an executable the session's sandbox would not show, saying how to show it", async () => {
    const { copy } = pythonOutsideTheSandbox();
    const s = await enabled();
    const res = await start(s, { mode: "python", interpreter: copy });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "interpreter" });
    expect(res.body.error.message).toContain("sandboxReadOnlyPaths");
    expect(await sessionCount(s)).toBe(0);
  });

  it("judges an interpreter where a link in a workspace leads, telling nothing of whether a host path exists", async () => {
    const { dir, copy } = pythonOutsideTheSandbox();
    const s = await enabled();
    if (s.config.sandbox === "none") return;
    // What code in a session can plant in its workspace: a link to the host's root.
    const workspace = join(s.home, "workspaces", "planted");
    mkdirSync(workspace, { recursive: true });
    symlinkSync("/", join(workspace, "L"));
    const answers = [];
    for (const interpreter of [join(workspace, "L", copy), join(workspace, "L", dir, "no-such-python")]) {
      const res = await start(s, { mode: "python", interpreter });
      expect(res.status, interpreter).toBe(400);
      answers.push(res.body.error.message.replace(interpreter, "<path>"));
    }
    expect(answers[0]).toContain("not visible inside the session's sandbox");
    expect(answers[1]).toBe(answers[0]);
  });

  it("runs a visible interpreter named through a link where the link leads (the sandbox may not show the link)", async () => {
    const s = await enabled();
    if (s.config.sandbox === "none") return;
    // A folder outside the session's own workspace: its sandbox does not show it, nor the link in it.
    const elsewhere = mkdtempSync(join(tmpdir(), "sessiond-interp-link-"));
    cleanups.push(() => rmSync(elsewhere, { recursive: true, force: true }));
    symlinkSync("/", join(elsewhere, "L"));
    symlinkSync("/usr/bin/python3", join(elsewhere, "py"));
    const python = realpathSync("/usr/bin/python3");
    // Through a linked folder, and as a link itself in a folder the sandbox does not show.
    for (const interpreter of [join(elsewhere, "L", python), join(elsewhere, "py")]) {
      const res = await start(s, { mode: "python", interpreter });
      expect(res.status, interpreter).toBe(201);
      const out = (await exec(s, res.body.id as string, "import sys; print(sys.executable)")).stdout as string;
      expect(out.trim(), interpreter).toBe(python);
    }
  });
});

describe("an llm session's model, endpoint and key", () => {
  const KEY = "sk-start-option-key-0123456789";

  it("talks to the base_url and model its start names, with its api_key, which is stored nowhere", async () => {
    fake = await FakeOpenAI.start();
    const s = await enabled({ llmBaseUrl: "https://llm.invalid/v1", llmModel: "configured-model" });
    const res = await start(s, { mode: "llm", base_url: fake.baseUrl, model: "fake-model", api_key: KEY });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect((await exec(s, id, "hello")).stdout).toBe("echo: hello");
    expect(fake.requests.map((r) => [r.authorization, r.body.model])).toEqual([[`Bearer ${KEY}`, "fake-model"]]);
    const session = (await s.json({ method: "GET", url: `/sessions/${id}` })).body;
    expect(session.runtime_metadata.mode_options).toEqual({ base_url: fake.baseUrl, model: "fake-model" });
    const everything = JSON.stringify([session, (await s.json({ method: "GET", url: `/sessions/${id}/events?limit=1000` })).body, (await s.json({ method: "GET", url: "/session/list" })).body]);
    expect(everything).not.toContain(KEY);
  });

  it("refuses at start, naming api_key and where a key goes, when no key is given or configured; nothing is created or sent", async () => {
    fake = await FakeOpenAI.start();
    const s = await enabled();
    const res = await start(s, { mode: "llm" });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "api_key" });
    for (const where of ["https://api.openai.com/v1", "llmApiKey", "SESSIOND_LLM_API_KEY", "OPENAI_API_KEY", 'api_key: ""']) {
      expect(res.body.error.message).toContain(where);
    }
    const other = await s.json({ method: "POST", url: "/sessions/", body: { kind: "llm", base_url: "http://10.1.2.3:8080/v1" } });
    expect(other.status).toBe(400);
    expect(other.body.error).toMatchObject({ code: "validation", field: "api_key" });
    expect(await sessionCount(s)).toBe(0);
    expect(fake.requests).toEqual([]);
  });

  it("needs no key for an endpoint on loopback, and sends none", async () => {
    fake = await FakeOpenAI.start();
    const s = await enabled();
    const res = await start(s, { mode: "llm", base_url: fake.baseUrl.replace("127.0.0.1", "localhost") });
    expect(res.status).toBe(201);
    expect((await exec(s, res.body.id, "local model")).stdout).toBe("echo: local model");
    expect(fake.requests[0]!.authorization).toBeUndefined();
  });

  it('starts without a key for any endpoint when the start says api_key: "", and keeps that choice', async () => {
    const s = await enabled({ llmApiKey: "sk-configured-but-not-wanted" });
    const res = await start(s, { mode: "llm", base_url: "http://10.1.2.3:8080/v1", api_key: "" });
    expect(res.status).toBe(201);
    const session = (await s.json({ method: "GET", url: `/sessions/${res.body.id}` })).body;
    expect(session.runtime_metadata.mode_options).toEqual({ base_url: "http://10.1.2.3:8080/v1", api_key: "" });
  });

  it("refuses a base_url that is not an http(s) URL and an api_key that disagrees with secrets.api_key, naming each", async () => {
    const s = await enabled({ llmApiKey: "sk-configured" });
    const url = await start(s, { mode: "llm", base_url: "file:///etc/passwd" });
    expect(url.status).toBe(400);
    expect(url.body.error).toMatchObject({ code: "validation", field: "base_url" });
    const both = await start(s, { mode: "llm", api_key: "sk-a", secrets: { api_key: "sk-b" } });
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({ code: "validation", field: "api_key" });
    expect(await sessionCount(s)).toBe(0);
  });
});

describe('server: "ssm"', () => {
  it("answers 501 target_unavailable naming server, what it would take and what to use instead, and starts nothing", async () => {
    const s = await enabled();
    for (const [url, body] of [
      ["/session/start", { mode: "shell", server: "ssm" }],
      ["/sessions/", { kind: "python", server: "ssm" }],
    ] as const) {
      const res = await s.json({ method: "POST", url, body });
      expect(res.status, url).toBe(501);
      expect(res.body.error, url).toMatchObject({ code: "target_unavailable", field: "server" });
      for (const part of ["ssm", "session-manager-plugin", "aws ssm start-session", '"ssh"']) expect(res.body.error.message, url).toContain(part);
    }
    expect(await sessionCount(s)).toBe(0);
  });

  it("leaves a target no seed names a 400 naming server", async () => {
    const s = await enabled();
    const res = await start(s, { mode: "shell", server: "mars" });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "server" });
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
