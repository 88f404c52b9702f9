/**
 * `sessiond ui`: the one-time login link, from the data dir's server (started on demand) over
 * its socket, and from a server at --url with a token.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliHome } from "./run-cli.js";

const SLOW = { timeout: 60_000 };

describe("sessiond ui", SLOW, () => {
  const cli = cliHome({ DISPLAY: "", WAYLAND_DISPLAY: "" });
  afterAll(() => cli.cleanup());

  /** The server's TCP address, from the data dir's pid file (written once it listens). */
  function tcpBase(): string {
    const pid = JSON.parse(readFileSync(join(cli.home, "server.pid"), "utf8")) as { port: number };
    return `http://127.0.0.1:${pid.port}`;
  }

  it("prints a login link whose code signs a page in once, as the local admin", async () => {
    const printed = await cli.run(["ui", "--no-open"]);
    expect(printed.code).toBe(0);
    const url = printed.stdout.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ui\/#code=[A-Za-z0-9_-]{43}$/);
    expect(url.startsWith(`${tcpBase()}/ui/#code=`)).toBe(true);

    const code = url.split("#code=")[1]!;
    const login = async () => fetch(`${tcpBase()}/ui/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ code }) });
    const first = await login();
    expect(first.status).toBe(200);
    const body = (await first.json()) as { token: string; role: string };
    expect(body.role).toBe("admin");
    expect(body.token).not.toBe(readFileSync(join(cli.home, "token"), "utf8").trim());
    expect((await login()).status).toBe(401);
  });

  it("answers --json with the code, its expiry and the link, and opens nothing without a display", async () => {
    const link = await cli.json<{ code: string; expires_at: string; url: string }>(["ui"]);
    expect(link.url.endsWith(`#code=${link.code}`)).toBe(true);
    expect(Date.parse(link.expires_at)).toBeGreaterThan(Date.now());
  });

  it("prints the link all the same when --open finds no browser opener, and says so on stderr", async () => {
    const opened = await cli.run(["ui", "--open"], { env: { PATH: "/nonexistent" } });
    expect(opened.code).toBe(0);
    expect(opened.stdout.trim()).toMatch(/\/ui\/#code=[A-Za-z0-9_-]{43}$/);
    expect(opened.stderr).toMatch(/could not open a browser \(xdg-open is not installed\); open the link above within \d+ s/);
  });

  it("hands the opener a private page that redirects to the link, never the link with its code", async () => {
    const bin = mkdtempSync(join(tmpdir(), "sessiond-opener-"));
    try {
      const record = join(bin, "argv");
      // Only shell builtins: PATH holds this folder alone.
      writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${record}"\n`);
      chmodSync(join(bin, "xdg-open"), 0o755);
      const opened = await cli.run(["ui", "--open"], { env: { PATH: bin } });
      expect(opened.code).toBe(0);
      expect(opened.stderr).toBe("");
      const url = opened.stdout.trim();
      const code = url.split("#code=")[1]!;
      expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const written = () => existsSync(record) && readFileSync(record, "utf8").endsWith("\n");
      for (let i = 0; i < 100 && !written(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      const argv = readFileSync(record, "utf8").trim();
      expect(argv).toBe(join(cli.home, "ui-login.html"));
      expect(argv).not.toContain(code);
      expect(statSync(argv).mode & 0o777).toBe(0o600);
      const page = readFileSync(argv, "utf8");
      expect(page).toContain(`<meta http-equiv="refresh" content="0;url=${url}">`);
      expect(page).toContain(`<a href="${url}">`);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("says on stderr why when the opener gives up, as xdg-open does without a browser or display", async () => {
    const bin = mkdtempSync(join(tmpdir(), "sessiond-opener-"));
    try {
      // Only shell builtins: PATH holds this folder alone.
      writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\necho "xdg-open: no method available for opening '$1'" >&2\nexit 3\n`);
      chmodSync(join(bin, "xdg-open"), 0o755);
      const opened = await cli.run(["ui", "--open"], { env: { PATH: bin } });
      expect(opened.code).toBe(0);
      expect(opened.stdout.trim()).toMatch(/\/ui\/#code=[A-Za-z0-9_-]{43}$/);
      expect(opened.stderr).toMatch(/could not open a browser \(xdg-open exited with 3: xdg-open: no method available for opening '.*ui-login\.html'\); open the link above within \d+ s/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("asks a server at --url with --token, and says which token it refused", async () => {
    const token = readFileSync(join(cli.home, "token"), "utf8").trim();
    const remote = await cli.run(["ui", "--no-open", "--url", tcpBase(), "--token", token]);
    expect(remote.code).toBe(0);
    expect(remote.stdout.trim()).toMatch(new RegExp(`^${tcpBase().replace(/\./g, "\\.")}/ui/#code=`));
    const refused = await cli.run(["ui", "--no-open", "--url", tcpBase(), "--token", "not-a-token-0123456789-abcdefghijk"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not valid/);
    expect(refused.stderr).not.toContain("not-a-token-0123456789-abcdefghijk");
  });
});
