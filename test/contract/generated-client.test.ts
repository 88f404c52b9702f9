/**
 * A client generated from the document works: openapi-typescript turns the /openapi.json a real
 * server serves into types, generated-client/flow.ts (written against those types only, with
 * openapi-fetch) typechecks with no cast and no @ts-expect-error, and then runs the whole flow
 * against the server over TCP with a token.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
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
  const document = await (await fetch(`${baseUrl}/openapi.json`)).json();
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
  const { runFlow } = await import("./generated-client/flow.js");
  const report = await runFlow(baseUrl, server.token);
  expect(report.created).toMatchObject({ name: "generated-flow", agent_id: "gen", status: "active" });
  expect(report.etag).toBe(`W/"${report.created.version}"`);
  expect(report.patched.context).toEqual({ step: 1 });
  expect(report.staleStatus).toBe(412);
  expect(report.listed).toBe(5);
  expect(report.pages).toBe(3);
  expect(report.eventTypes).toContain("custom");
  expect(report.restoredContext).toEqual({ step: 1 });
  expect(report.forkParent).toBe(report.created.id);
  expect(report.uploadStatus).toBe(201);
  expect(report.downloaded).toBe("# the plan");
  expect(report.exitCode).toBe(0);
  expect(report.stdout.trim()).toBe("from-generated");
  expect(report.stopped).toBe("completed");
  expect(report.secondStopStatus).toBe(409);
});
