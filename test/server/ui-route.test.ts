import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NONCE_PLACEHOLDER } from "../../src/server/routes/ui.js";
import { type TestServer, startServer } from "./harness.js";

const AGENT_TOKEN = "ui-agent-token-0123456789-abcdefghij";
const READER_TOKEN = "ui-reader-token-0123456789-abcdefghij";
const tokens = () => [
  { token: AGENT_TOKEN, role: "agent", agent_id: "agent-a", name: "planner" },
  { token: READER_TOKEN, role: "reader", name: "dashboard" },
];

const INDEX = `<!doctype html><html><head><meta name="sessiond-style-nonce" content="${NONCE_PLACEHOLDER}"><script type="module" src="/ui/assets/app-3f2a.js"></script></head><body><div id="app"></div></body></html>`;

/** A build as `npm run build` lays it out: index.html, hashed assets, a plain file beside. */
let build: string;
beforeAll(() => {
  build = mkdtempSync(join(tmpdir(), "sessiond-ui-build-"));
  mkdirSync(join(build, "assets"));
  writeFileSync(join(build, "index.html"), INDEX);
  writeFileSync(join(build, "assets", "app-3f2a.js"), "console.log('app');\n");
  writeFileSync(join(build, "assets", "app-3f2a.css"), "body{margin:0}\n");
  writeFileSync(join(build, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  writeFileSync(join(build, ".env"), "SECRET=1\n");
});
afterAll(() => rmSync(build, { recursive: true, force: true }));

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function nonceOf(csp: string): string {
  const match = /'nonce-([^']+)'/.exec(csp);
  expect(match, csp).not.toBeNull();
  return match![1]!;
}

describe("the dashboard's files at /ui", () => {
  it("serves the page without a token, never cached, with a strict policy and a fresh nonce in place of the placeholder", async () => {
    server = await startServer({ uiDir: build });
    const pages = await Promise.all(["/ui", "/ui/"].map((url) => server!.request({ method: "GET", url, token: null })));
    const nonces = new Set<string>();
    for (const page of pages) {
      expect(page.statusCode).toBe(200);
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(page.headers["cache-control"]).toBe("no-cache");
      const csp = String(page.headers["content-security-policy"]);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      const nonce = nonceOf(csp);
      expect(page.body).toContain(`content="${nonce}"`);
      expect(page.body).not.toContain(NONCE_PLACEHOLDER);
      expect(page.headers["x-content-type-options"]).toBe("nosniff");
      nonces.add(nonce);
    }
    expect(nonces.size).toBe(2);
  });

  it("serves a hashed asset for a year as immutable, with its type", async () => {
    server = await startServer({ uiDir: build });
    const js = await server.request({ method: "GET", url: "/ui/assets/app-3f2a.js", token: null });
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toMatch(/^text\/javascript|^application\/javascript/);
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(js.body).toBe("console.log('app');\n");
    const css = await server.request({ method: "GET", url: "/ui/assets/app-3f2a.css", token: null });
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
    expect(css.headers["content-security-policy"]).toContain("script-src 'self'");
  });

  it("serves a plain file beside the page, revalidated on every use", async () => {
    server = await startServer({ uiDir: build });
    const icon = await server.request({ method: "GET", url: "/ui/favicon.svg", token: null });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers["content-type"]).toMatch(/^image\/svg\+xml/);
    expect(icon.headers["cache-control"]).toBe("no-cache");
  });

  it("answers the page for any path of the app, so a reload of a session's page works", async () => {
    server = await startServer({ uiDir: build });
    for (const url of ["/ui/sessions/build-42", "/ui/sessions/release-1.2", "/ui/sessions/notes.md", "/ui/sessions/.hidden-name", "/ui/stats", "/ui/index.html", "/ui/assets/%2e%2e/index.html", "/ui/sessions/0193a0b1-0000-7000-8000-000000000001?tab=timeline"]) {
      const page = await server.request({ method: "GET", url, token: null });
      expect(page.statusCode, url).toBe(200);
      expect(page.headers["content-type"], url).toBe("text/html; charset=utf-8");
      expect(page.body, url).toContain('<div id="app">');
      expect(page.body, url).not.toContain(NONCE_PLACEHOLDER);
    }
  });

  it("answers 404 in the error shape for an asset or file that is not there", async () => {
    server = await startServer({ uiDir: build });
    for (const url of ["/ui/assets/app-0000.js", "/ui/assets/nope-123.js", "/ui/missing.png", "/ui/assets/nested/none.css", "/ui/assets/nested"]) {
      const res = await server.json({ method: "GET", url, token: null });
      expect(res.status, url).toBe(404);
      expect(res.body.error.code, url).toBe("not_found");
      // An error echoes the path it did not find: it carries the policy as a page does.
      expect(res.headers, url).toMatchObject({ "x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer" });
      expect(res.headers["content-security-policy"], url).toContain("frame-ancestors 'none'");
      // A miss is never cached as a hashed asset is: the file may be there on the next build.
      expect(res.headers["cache-control"] ?? "", url).not.toMatch(/immutable|max-age=[1-9]/);
    }
    const refused = await server.request({ method: "GET", url: "/ui/%3Cscript%3E.html", token: null });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers["content-security-policy"]).toContain("default-src");
  });

  it("never serves a file outside the build nor a dotfile", async () => {
    server = await startServer({ uiDir: build });
    for (const url of ["/ui/assets/..%2F..%2Fetc%2Fpasswd", "/ui/.env", "/ui/assets/../../package.json", "/ui/..%2Fpackage.json"]) {
      const res = await server.request({ method: "GET", url, token: null });
      expect([400, 401, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toContain("SECRET");
      expect(res.body, url).not.toContain("root:");
      expect(res.body, url).not.toContain('"name": "sessiond"');
    }
  });

  it("answers 503 ui_not_built naming npm run build when there is no build, and the API still answers", async () => {
    const empty = mkdtempSync(join(tmpdir(), "sessiond-ui-empty-"));
    try {
      server = await startServer({ uiDir: empty });
      for (const url of ["/ui", "/ui/stats", "/ui/assets/app-3f2a.js"]) {
        const res = await server.json({ method: "GET", url, token: null });
        expect(res.status, url).toBe(503);
        expect(res.body.error.code, url).toBe("ui_not_built");
        expect(res.body.error.message, url).toContain("npm run build");
      }
      expect((await server.request({ method: "GET", url: "/sessions/" })).statusCode).toBe(200);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("GET /ui/whoami", () => {
  it("tells each token its role and scope, never its secret", async () => {
    server = await startServer({ uiDir: build, tokens: tokens() });
    const admin = await server.json({ method: "GET", url: "/ui/whoami" });
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ role: "admin", agent_id: null, user_id: null });
    const agent = await server.json({ method: "GET", url: "/ui/whoami", token: AGENT_TOKEN });
    expect(agent.body).toEqual({ role: "agent", name: "planner", agent_id: "agent-a", user_id: null });
    const reader = await server.json({ method: "GET", url: "/ui/whoami", token: READER_TOKEN });
    expect(reader.body).toEqual({ role: "reader", name: "dashboard", agent_id: null, user_id: null });
    expect(JSON.stringify([admin.body, agent.body, reader.body])).not.toContain(server.token);
    expect(JSON.stringify([agent.body, reader.body])).not.toMatch(/token-0123/);
  });

  it("answers 401 without a token or with a wrong one, as every API route does", async () => {
    server = await startServer({ uiDir: build });
    expect((await server.json({ method: "GET", url: "/ui/whoami", token: null })).status).toBe(401);
    const wrong = await server.json({ method: "GET", url: "/ui/whoami", token: "not-a-token-of-this-server-0123456789" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("unauthorized");
  });
});
