import { describe, expect, it } from "vitest";
import { dataPaths, envName, resolveConfig } from "../../src/core/index.js";

describe("resolveConfig", () => {
  it("defaults the data dir to ~/.sessiond and the server to 127.0.0.1:8011", () => {
    const config = resolveConfig({ env: { HOME: "/home/ada" } });
    expect(config).toMatchObject({ home: "/home/ada/.sessiond", host: "127.0.0.1", port: 8011, store: "sqlite" });
    expect(dataPaths(config).database).toBe("/home/ada/.sessiond/sessiond.db");
  });

  it("layers defaults < file < env < flags, converting env strings", () => {
    const config = resolveConfig({
      file: { port: 9000, hotPoolSize: 5, defaultPageSize: 10 },
      env: { HOME: "/h", SESSIOND_PORT: "9100", SESSIOND_HOT_POOL_SIZE: "7", SESSIOND_HOME: "/data" },
      flags: { port: 0 },
    });
    expect(config).toMatchObject({ port: 0, hotPoolSize: 7, defaultPageSize: 10, home: "/data" });
  });

  it("refuses an unknown key and a wrong type, naming them", () => {
    expect(() => resolveConfig({ file: { prot: 1 } })).toThrow(expect.objectContaining({ field: "config.prot" }));
    expect(() => resolveConfig({ env: { SESSIOND_PORT: "eighty" } })).toThrow(expect.objectContaining({ field: "config.port" }));
  });

  it("leaves the caller's objects alone, so the same sources resolve twice", () => {
    const file = { executionModes: { shell: true } };
    resolveConfig({ file, env: { HOME: "/h" } });
    expect(Object.isFrozen(file.executionModes)).toBe(false);
    expect(() => resolveConfig({ file, env: { HOME: "/h" } })).not.toThrow();
  });

  it("is frozen", () => {
    const config = resolveConfig({ env: { HOME: "/h" } });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("names env variables after their keys", () => {
    expect(envName("maxContextBytes")).toBe("SESSIOND_MAX_CONTEXT_BYTES");
  });
});
