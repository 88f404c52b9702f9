import { afterAll, describe, expect, it } from "vitest";
import { cliHome, useCompiledCli } from "./run-cli.js";

// Each command is a real process, and a checked session's first cell loads the compiler.
const SLOW = { timeout: 180_000 };
useCompiledCli();

interface S {
  id: string;
  runtime_metadata: Record<string, unknown>;
}

describe("sessiond start --typecheck, and SESSIOND_TYPESCRIPT_TYPECHECK", SLOW, () => {
  // The server's config default is on, from its environment.
  const h = cliHome({ SESSIOND_TYPESCRIPT_TYPECHECK: "true" });
  afterAll(() => h.cleanup());

  it("checks typescript cells by the server's default, and --no-typecheck turns it off for one session", async () => {
    const checked = await h.json<S>(["start", "--kind", "typescript", "--name", "checked"]);
    expect(checked.runtime_metadata.mode_options).toEqual({ typecheck: true });
    const bad = await h.run(["exec", "checked", "const n: number = 'text'"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("cell-1.ts:1:7 - error TS2322: Type 'string' is not assignable to type 'number'.");
    expect(await h.run(["exec", "checked", "const m: number = 20; m + 1"])).toMatchObject({ code: 0, stdout: "21\n" });

    const loose = await h.json<S>(["start", "--kind", "typescript", "--name", "loose", "--no-typecheck"]);
    expect(loose.runtime_metadata.mode_options).toEqual({ typecheck: false });
    expect(await h.run(["exec", "loose", "const n: number = 'text'; n"])).toMatchObject({ code: 0, stdout: "'text'\n" });
  });

  it("refuses --typecheck for another kind, naming typecheck", async () => {
    const other = await h.run(["start", "--kind", "shell", "--typecheck"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^sessiond: invalid typecheck: not an option of shell sessions \(only of typescript\)/);
  });
});
