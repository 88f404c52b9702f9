/**
 * A client generated from the document works: openapi-typescript turns the /openapi.json a real
 * server serves into types, generated-client/flow.ts (written against those types only, with
 * openapi-fetch) typechecks with no cast and no @ts-expect-error, and then runs the whole flow
 * against the server over TCP with a token.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import openapiTS, { type OpenAPI3, astToString } from "openapi-typescript";
import ts from "typescript";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

const here = join(dirname(fileURLToPath(import.meta.url)), "generated-client");
const FLOW = join(here, "flow.ts");
const TYPES = join(here, "api.d.ts");

let server: TestServer;
let baseUrl: string;
beforeAll(async () => {
  server = await startServer({ enableSessions: true, sandbox: "none" });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const address = server.app.server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  baseUrl = `http://127.0.0.1:${address.port}`;
  const document = JSON.parse(await (await fetch(`${baseUrl}/openapi.json`)).text()) as OpenAPI3;
  writeFileSync(TYPES, astToString(await openapiTS(document)));
});
afterAll(async () => {
  rmSync(TYPES, { force: true });
  await server?.close();
});

it("typechecks a flow written against the generated types, with no casts and no @ts-expect-error", () => {
  const text = readFileSync(FLOW, "utf8");
  expect(text).not.toMatch(/^\s*(\/\/|\/\*)\s*@ts-(expect-error|ignore|nocheck)/m);
  // The code without its comments (which may name what it must not do): no `as` cast, no `<T>x` assertion.
  const source = ts.createPrinter({ removeComments: true }).printFile(ts.createSourceFile(FLOW, text, ts.ScriptTarget.ES2022));
  expect(source).not.toMatch(/\bas\s+(?!const\b)[A-Za-z_{[(]|<[A-Z]\w*>\s*\w/);
  const configFile = ts.readConfigFile(join(process.cwd(), "tsconfig.json"), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, process.cwd());
  const program = ts.createProgram([FLOW], { ...options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  expect(diagnostics).toEqual([]);
});

it("runs create, get, patch with If-Match, paging, events, checkpoints, restore, fork, artifacts and stop through it", async () => {
  // Loaded by URL, so that the repo's own typecheck does not follow it to types that exist only now.
  const flow: { runFlow(baseUrl: string, token: string): Promise<Record<string, unknown>> } = await import(pathToFileURL(FLOW).href);
  const report = await flow.runFlow(baseUrl, server.token);
  expect(report).toMatchObject({
    created: { name: "generated-flow", agent_id: "gen", status: "active", version: 1 },
    etag: 'W/"1"',
    patched: { context: { step: 1 } },
    staleStatus: 412,
    listed: 5,
    pages: 3,
    restoredContext: { step: 1 },
    uploadStatus: 201,
    downloaded: "# the plan",
    exitCode: 0,
    stdout: "from-generated\n",
    stopped: "completed",
    secondStopStatus: 409,
  });
  expect(report.eventTypes).toContain("custom");
  expect(report.forkParent).toBe((report.created as { id: string }).id);
});
