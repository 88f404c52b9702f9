import { afterAll, describe, expect, it } from "vitest";
import { cliHome, useCompiledCli } from "./run-cli.js";

// Each command is a real process; on a busy 2-core machine a few of them take a while.
const SLOW = { timeout: 180_000 };
useCompiledCli();

interface S {
  id: string;
  kind: string;
  mode: string | null;
  runtime_metadata: Record<string, unknown>;
}

describe("sessiond start with a mode's options", SLOW, () => {
  // No key in the server's environment, whatever the machine's: the llm refusal must be the server's.
  const h = cliHome({ OPENAI_API_KEY: "", SESSIOND_LLM_API_KEY: "" });
  afterAll(() => h.cleanup());

  it("starts a python session on --interpreter; show prints its mode", async () => {
    const s = await h.json<S>(["start", "--kind", "python", "--name", "py", "--interpreter", "/usr/bin/python3"]);
    expect(s).toMatchObject({ kind: "python", mode: "python", runtime_metadata: { mode_options: { interpreter: "/usr/bin/python3" } } });
    expect((await h.run(["show", "py"])).stdout).toMatch(/^mode:\s+python$/m);
    expect(await h.run(["exec", "py", "import sys; print(sys.executable)"])).toMatchObject({ code: 0, stdout: "/usr/bin/python3\n" });
    expect((await h.run(["stop", "py"])).code).toBe(0);
  });

  it("starts a python session whose undo puts the files back too with --undo-files, and names the checkpoint a label stood for", async () => {
    const s = await h.json<S>(["start", "--kind", "python", "--name", "py-undo", "--undo-files"]);
    expect(s.runtime_metadata).toMatchObject({ undo_files: true });
    expect((await h.run(["exec", "py-undo", "open('files/a.txt', 'w').write('a')"])).code).toBe(0);
    expect((await h.run(["undo", "py-undo"])).code).toBe(0);
    expect(await h.run(["exec", "py-undo", "import os; print(os.path.exists('files/a.txt'))"])).toMatchObject({ code: 0, stdout: "False\n" });
    const cp = await h.json<{ id: string }>(["checkpoint", "create", "py-undo", "--label", "v1"]);
    expect((await h.run(["checkpoint", "restore", "py-undo", "v1"])).stdout).toMatch(new RegExp(`^py-undo restored to v1 \\(${cp.id}\\): `));
    expect((await h.run(["stop", "py-undo"])).code).toBe(0);
  });

  it("recovers a python session fresh, saying its variables are gone and how to get them back; --replay runs its cells again", async () => {
    await h.json(["start", "--kind", "python", "--name", "py-crash"]);
    expect((await h.run(["exec", "py-crash", "x = 41"])).code).toBe(0);
    expect((await h.run(["exec", "py-crash", "x += 1"])).code).toBe(0);
    expect((await h.run(["crash", "py-crash"])).code).toBe(0);
    const fresh = await h.run(["recover", "py-crash"]);
    expect(fresh.stdout).toBe("py-crash recovered: active; no checkpoint\n");
    expect(fresh.stderr).toBe("[a fresh interpreter: earlier cells' variables are gone (`sessiond restore py-crash` rebuilds it at its newest checkpoint; `recover --replay` runs every cell again)]\n");
    expect((await h.run(["exec", "py-crash", "x"])).stderr).toContain("NameError");
    expect((await h.run(["crash", "py-crash"])).code).toBe(0);
    const saved = await h.json<{ id: string }>(["checkpoint", "create", "py-crash", "--label", "mid"]);
    expect((await h.run(["recover", "py-crash"])).stdout).toBe(`py-crash recovered: active; latest checkpoint, to resume from: ${saved.id} (mid)\n`);
    expect((await h.run(["crash", "py-crash"])).code).toBe(0);
    const replayed = await h.run(["recover", "py-crash", "--replay"]);
    expect(replayed.stderr).toBe("[2 of 2 cells replayed]\n");
    expect(await h.run(["exec", "py-crash", "x"])).toMatchObject({ code: 0, stdout: "42\n" });
    expect((await h.run(["stop", "py-crash"])).code).toBe(0);
  });

  it("refuses what a start cannot use, in one line naming it", async () => {
    const other = await h.run(["start", "--kind", "shell", "--interpreter", "/usr/bin/python3"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^sessiond: invalid interpreter: not an option of shell sessions \(only of python\)/);

    const unset = await h.run(["start", "--kind", "llm", "--api-key-env", "SESSIOND_TEST_NO_SUCH_KEY"]);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain("--api-key-env SESSIOND_TEST_NO_SUCH_KEY: that environment variable is not set");

    const keyless = await h.run(["start", "--kind", "llm", "--base-url", "https://llm.example.com/v1"]);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toMatch(/^sessiond: invalid api_key: an llm session needs an API key for https:\/\/llm\.example\.com\/v1/);
    expect(keyless.stderr).toContain("llmApiKey");

    const ssm = await h.run(["start", "--kind", "shell", "--server", "ssm"]);
    expect(ssm.code).toBe(1);
    expect(ssm.stderr).toContain('live sessions cannot run on server "ssm"');
  });

  it("hands the key from --api-key-env to the server without putting it in the session", async () => {
    const key = "sk-cli-env-key-0123456789";
    const r = await h.run(["start", "--kind", "llm", "--base-url", "https://llm.example.com/v1", "--model", "m1", "--api-key-env", "MY_LLM_KEY", "--json"], { env: { MY_LLM_KEY: key } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(key);
    const s = JSON.parse(r.stdout) as S;
    expect(s).toMatchObject({ kind: "llm", mode: "llm", runtime_metadata: { mode_options: { base_url: "https://llm.example.com/v1", model: "m1" } } });
    expect((await h.run(["stop", s.id])).code).toBe(0);
  });
});
