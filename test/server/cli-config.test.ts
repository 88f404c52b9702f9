import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/cli/load-config.js";
import { maskSecrets } from "../../src/cli/mask-secrets.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sessiond-cfg-"));
  dirs.push(dir);
  const path = join(dir, "config.json");
  writeFileSync(path, content);
  return path;
}

describe("the CLI's config", () => {
  it("layers defaults < file < env < flags", () => {
    const path = file(JSON.stringify({ port: 1111, host: "127.0.0.3", retentionDays: 3, logLevel: "warn" }));
    const env = { HOME: "/home/x", SESSIOND_PORT: "2222", SESSIOND_RETENTION_DAYS: "5" };
    const config = loadConfig({ config: path, port: "3333" }, env);
    expect(config).toMatchObject({ port: 3333, host: "127.0.0.3", retentionDays: 5, logLevel: "warn", home: "/home/x/.sessiond" });
    expect(loadConfig({}, { HOME: "/home/x", SESSIOND_CONFIG: path }).port).toBe(1111);
  });

  it("names the file when it cannot be read or is not a JSON object, and the key when a value is wrong", () => {
    expect(() => loadConfig({ config: "/nonexistent/sessiond.json" }, { HOME: "/h" })).toThrow(/cannot read the config file \/nonexistent/);
    expect(() => loadConfig({ config: file("{port: 1") }, { HOME: "/h" })).toThrow(/is not valid JSON/);
    expect(() => loadConfig({ config: file("[1]") }, { HOME: "/h" })).toThrow(/must hold a JSON object/);
    expect(() => loadConfig({ config: file('{"prot": 1}') }, { HOME: "/h" })).toThrow(/config\.prot/);
    expect(() => loadConfig({ port: "99999" }, { HOME: "/h" })).toThrow(/config\.port/);
  });

  it("masks token values and URL passwords, and a URL it cannot parse entirely", () => {
    const config = loadConfig(
      { config: file(JSON.stringify({ pgUrl: "postgres://u:pw@h/db", redisUrl: "not a url :secret", tokens: [{ token: "t".repeat(20), role: "reader" }] })) },
      { HOME: "/h" },
    );
    const masked = maskSecrets(config);
    expect(masked.pgUrl).toBe("postgres://u:********@h/db");
    expect(masked.redisUrl).toBe("********");
    expect(masked.tokens).toEqual([{ token: "********", role: "reader" }]);
    expect(JSON.stringify(masked)).not.toContain("t".repeat(20));
    expect(config.tokens[0]!.token).toBe("t".repeat(20));
  });
});
