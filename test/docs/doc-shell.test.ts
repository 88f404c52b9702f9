import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DocShell } from "./doc-shell.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function shell(): DocShell {
  const dir = mkdtempSync(join(tmpdir(), "sessiond-doc-shell-"));
  const sh = DocShell.start({ cwd: dir, env: { PATH: process.env.PATH ?? "" }, scratch: dir, streamSeconds: 1 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => sh.close());
  return sh;
}

describe("the docs test's shell", () => {
  it("keeps variables and aliases from block to block, and reports every failing command of a block", async () => {
    const sh = shell();
    expect(await sh.run("X=1\nalias hi='echo hi $X'\n", 10_000)).toEqual({ output: "\n", failures: [] });
    const run = await sh.run("hi\nfalse\nls /nonexistent-path\necho after\n", 10_000);
    expect(run.failures).toEqual(["1: false", "2: ls /nonexistent-path"]);
    expect(run.output).toContain("hi 1\n");
    expect(run.output).toContain("after\n");
  });

  it("counts an HTTP error answer to curl -s as a failure, naming the curl", async () => {
    const server = createServer((req, res) => res.writeHead(req.url === "/ok" ? 200 : 404).end("body"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const run = await shell().run(`curl -s ${url}/ok\ncurl -s ${url}/missing\n`, 10_000);
    expect(run.failures).toEqual([`22: curl -s ${url}/missing`]);
  });

  it("follows a streaming curl (-N) answered 2xx for streamSeconds and counts its stop as success; a streaming curl answered with an HTTP error fails, however late the answer", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("data: first\n\n");
        return;
      }
      // An error answered later than the stream is followed: still a failure, not a stream stopped in time.
      setTimeout(() => res.writeHead(404).end("no such stream"), req.url === "/late-missing" ? 1_500 : 0);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => void server.closeAllConnections());
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const run = await shell().run(`curl -sN ${url}/stream\necho after\ncurl -sN ${url}/missing\ncurl --no-buffer -s ${url}/late-missing\n`, 10_000);
    expect(run.output).toContain("data: first\n");
    expect(run.output).toContain("after\n");
    expect(run.failures).toEqual([`22: curl -sN ${url}/missing`, `22: curl --no-buffer -s ${url}/late-missing`]);
  });

  it("fails a block that does not finish, kills it, and fails every later block at once", async () => {
    const sh = shell();
    expect((await sh.run("sleep 30\n", 300)).failures).toEqual(["did not finish within 300 ms"]);
    expect((await sh.run("echo late\n", 10_000)).failures[0]).toMatch(/an earlier block .* did not finish/);
  });
});
