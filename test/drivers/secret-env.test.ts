import { describe, expect, it } from "vitest";
import { envToSave, isSecretEnv } from "../../src/drivers/runtime-state.js";

describe("which variables look secret", () => {
  it.each([
    "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "DB_PASSWORD",
    "MYSQL_PWD_PASSWD",
    "GPG_PASSPHRASE",
    "OPENAI_API_KEY",
    "STRIPE_APIKEY",
    "SSH_PRIVATE_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "DB_PASS",
    "STRIPE_KEY",
    "SSH_AUTH_SOCK",
    "session_cookie",
    "api_token",
  ])("%s looks secret by its name", (name) => {
    expect(isSecretEnv(name, "x")).toBe(true);
  });

  it.each(["PATH", "HOME", "PWD", "OLDPWD", "GIT_AUTHOR_NAME", "KEYMAP", "MONKEY", "LANG", "PASSAGE", "TERM"])("%s does not", (name) => {
    expect(isSecretEnv(name, "plain value")).toBe(false);
  });

  it("a URL with a password in its value looks secret whatever the name", () => {
    expect(isSecretEnv("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/app")).toBe(true);
    expect(isSecretEnv("UPSTREAM", "see https://u:p@example.com/x")).toBe(true);
    expect(isSecretEnv("DATABASE_URL", "postgres://app@db.internal/app")).toBe(false);
    expect(isSecretEnv("HOMEPAGE", "https://example.com/a:b@c")).toBe(false);
    expect(isSecretEnv("X", "x-1.2+git://u:p@h")).toBe(true);
    expect(isSecretEnv("X", "1://u:p@h")).toBe(false);
    expect(isSecretEnv("X", "a b://u:p@h")).toBe(true);
    expect(isSecretEnv("X", "https://u:p q@h")).toBe(false);
  });

  it("looks through values of megabytes in one pass (a run of letters made one regular expression backtrack for minutes)", () => {
    const run = "a".repeat(3 * 1024 * 1024);
    expect(isSecretEnv("X", run)).toBe(false);
    expect(isSecretEnv("X", `${run}://${run}`)).toBe(false);
    expect(isSecretEnv("X", "://".repeat(1024 * 1024))).toBe(false);
    expect(isSecretEnv("X", `${run} https://u:pw@h`)).toBe(true);
  });
});

describe("the environment saved for recovery", () => {
  const env = { PATH: "/usr/bin", KEEP: "1", GITHUB_TOKEN: "ghp_x", DB_PASS: "pw", DATABASE_URL: "postgres://u:pw@h/d" };

  it("leaves out every variable that looks secret by default", () => {
    expect(envToSave(env, { saveSecretEnv: [] })).toEqual({ PATH: "/usr/bin", KEEP: "1" });
  });

  it("keeps the secret-looking variables config saveSecretEnv names, and every one with *", () => {
    expect(envToSave(env, { saveSecretEnv: ["DB_PASS"] })).toEqual({ PATH: "/usr/bin", KEEP: "1", DB_PASS: "pw" });
    expect(envToSave(env, { saveSecretEnv: ["*"] })).toEqual(env);
  });

  it("leaves out a variable whose value or name the stores cannot keep, and keeps the rest", () => {
    const odd = { KEEP: "1", NUL: "a\u0000b", LONE: "\ud800", ["BAD\u0000NAME"]: "x" };
    expect(envToSave(odd, { saveSecretEnv: [] })).toEqual({ KEEP: "1" });
    expect(envToSave(odd, { saveSecretEnv: ["*"] })).toEqual({ KEEP: "1" });
  });
});
