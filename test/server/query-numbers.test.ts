import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

/**
 * Numbers in query strings (and path parameters) are integers written as digits, within 2^53, or
 * a 400 naming the parameter — never read loosely (`1e20` and `1.5` as 1, `0x10` as 16,
 * 9007199254740993 as …992), on every route that takes one.
 */

let server: TestServer;
let sessionId: string;
let webhookId: string;

beforeAll(async () => {
  server = await startServer({ enableSessions: true });
  sessionId = (await server.json({ method: "POST", url: "/sessions/", body: { name: "numbers" } })).body.id;
  await server.json({ method: "POST", url: `/sessions/${sessionId}/iterations`, body: {} });
  expect((await server.manager.get(sessionId)).last_seq).toBe(2);
  webhookId = (await server.json({ method: "POST", url: "/webhooks", body: { url: "https://hooks.example.com/x" } })).body.id;
});

afterAll(async () => {
  await server.close();
});

const BAD = ["1e20", "1.5", "-1", "abc", "9007199254740993", "0x10", "1e2", " 5", ""];

/** Every route with a numeric query parameter: the URL with the parameter's value left for last. */
const ROUTES: readonly (readonly [string, (value: string) => string])[] = [
  ["limit", (v) => `/sessions/?limit=${encodeURIComponent(v)}`],
  ["after_seq", (v) => `/sessions/${sessionId}/events?after_seq=${encodeURIComponent(v)}`],
  ["to_seq", (v) => `/sessions/${sessionId}/events?to_seq=${encodeURIComponent(v)}`],
  ["limit", (v) => `/sessions/${sessionId}/events?limit=${encodeURIComponent(v)}`],
  ["seq", (v) => `/sessions/${sessionId}/state?seq=${encodeURIComponent(v)}`],
  ["limit", (v) => `/webhooks/${webhookId}/deliveries?limit=${encodeURIComponent(v)}`],
  ["limit", (v) => `/session/${sessionId}/logs?limit=${encodeURIComponent(v)}`],
  ["after_seq", (v) => `/sessions/${sessionId}/stream?after_seq=${encodeURIComponent(v)}`],
  ["after_pos", (v) => `/sessions/${sessionId}/stream?after_pos=${encodeURIComponent(v)}`],
  ["offset", (v) => `/sessions/${sessionId}/stream?exec_id=x&offset=${encodeURIComponent(v)}`],
  ["stderr_offset", (v) => `/sessions/${sessionId}/stream?exec_id=x&stderr_offset=${encodeURIComponent(v)}`],
  ["after", (v) => `/feed?after=${encodeURIComponent(v)}`],
  ["offset", (v) => `/sessions/${sessionId}/attach?offset=${encodeURIComponent(v)}`],
];

describe("numeric query parameters", () => {
  it.each(ROUTES.map(([param, url]) => [url("N").replace("undefined", "{id}"), param, url] as const))("GET %s refuses every value that is not a plain integer with 400 naming %s", async (_shown, param, url) => {
    for (const value of BAD) {
      const res = await server.json({ method: "GET", url: url(value) });
      expect(res.status, `${param}=${JSON.stringify(value)}`).toBe(400);
      expect(res.body.error, `${param}=${JSON.stringify(value)}`).toMatchObject({ code: "validation", field: param });
    }
  });

  it("takes plain integers, leading zeros included", async () => {
    expect((await server.json({ method: "GET", url: "/sessions/?limit=05" })).status).toBe(200);
    const events = await server.json({ method: "GET", url: `/sessions/${sessionId}/events?after_seq=1&limit=10` });
    expect(events.status).toBe(200);
    expect(events.body.map((e: { seq: number }) => e.seq)).toEqual([2]);
    expect((await server.json({ method: "GET", url: `/sessions/${sessionId}/state?seq=1` })).body.seq).toBe(1);
  });

  it("says what it expects: digits, and the largest exact integer", async () => {
    expect((await server.json({ method: "GET", url: "/sessions/?limit=1e20" })).body.error.message).toBe("invalid limit: expected an integer, written as digits");
    expect((await server.json({ method: "GET", url: `/sessions/${sessionId}/events?after_seq=9007199254740993` })).body.error.message).toBe(
      "invalid after_seq: expected an integer from -9007199254740991 to 9007199254740991",
    );
  });

  it("refuses a loose integer in a path parameter too (the pid of a process to kill)", async () => {
    for (const pid of ["1e3", "1.5", "0x10"]) {
      const res = await server.json({ method: "POST", url: `/sessions/${sessionId}/processes/${pid}/kill`, body: {} });
      expect(res.status, pid).toBe(400);
      expect(res.body.error).toMatchObject({ code: "validation", field: "pid" });
    }
  });
});
