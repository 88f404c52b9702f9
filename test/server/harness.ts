import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import pg from "pg";
import { type Config, dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { ServerMetrics, buildApp } from "../../src/server/index.js";
import { type Store, openSqliteStore, openStore } from "../../src/store/index.js";
import { createTestSchema } from "../helpers/postgres.js";

/** A built app on a fresh SESSIOND_HOME, with helpers to call it. */
export interface TestServer {
  readonly app: FastifyInstance;
  readonly manager: SessionManager;
  /** The manager's store. */
  readonly store: Store;
  readonly config: Config;
  readonly home: string;
  /** The generated admin token. */
  readonly token: string;
  /** Sends a request with the admin token (or `token`, or none with `token: null`). */
  request(options: RequestOptions): Promise<LightMyRequestResponse>;
  /** Sends a request and parses the JSON answer. */
  json<T = any>(options: RequestOptions): Promise<{ status: number; body: T; headers: Record<string, unknown> }>;
  /** The store's backend: sqlite, or postgres under SESSIOND_TEST_STORE=postgres. */
  readonly backend: Store["backend"];
  /**
   * Runs SQL on the server's own database (its SQLite file, or its PostgreSQL schema) on a
   * connection of its own, beside the store: for a test that needs the database to refuse something.
   */
  sql(statements: string): Promise<void>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method: InjectOptions["method"];
  url: string;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Bearer token to use instead of the admin token; null sends none. */
  token?: string | null;
}

/** Builds an app on a temporary data dir. Config flags override the defaults. */
export async function startServer(flags: Record<string, unknown> = {}, options: { clock?: () => Date } = {}): Promise<TestServer> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-server-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "silent", sqliteSynchronous: "normal", ...flags } });
  const metrics = new ServerMetrics();
  // SESSIOND_TEST_STORE=postgres runs the server suites on the PostgreSQL store, each server in a schema of its own.
  const pgSchema = process.env.SESSIOND_TEST_STORE === "postgres" ? await createTestSchema() : undefined;
  const store = pgSchema ? await openStore({ ...config, store: "postgres", pgUrl: pgSchema.url }) : openSqliteStore(config);
  const manager = new SessionManager({
    store,
    config,
    observeCommit: metrics.observeCommit,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const app = await buildApp({ config, manager, store, metrics });
  await app.ready();
  const token = readFileSync(dataPaths(config).token, "utf8").trim();
  const request = (options: RequestOptions) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const bearer = options.token === undefined ? token : options.token;
    if (bearer !== null && headers.authorization === undefined) headers.authorization = `Bearer ${bearer}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      if (typeof options.body === "string") payload = options.body;
      else {
        payload = JSON.stringify(options.body);
        headers["content-type"] ??= "application/json";
      }
    }
    return app.inject({ method: options.method, url: options.url, headers, ...(payload !== undefined ? { payload } : {}) });
  };
  let closed = false;
  return {
    app,
    manager,
    store,
    config,
    home,
    token,
    request,
    async json(options) {
      const res = await request(options);
      return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
    },
    backend: store.backend,
    async sql(statements) {
      if (pgSchema) {
        const client = new pg.Client({ connectionString: pgSchema.url });
        await client.connect();
        try {
          await client.query(statements);
        } finally {
          await client.end();
        }
        return;
      }
      const db = new Database(dataPaths(config).database);
      try {
        db.exec(statements);
      } finally {
        db.close();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await manager.close();
      if (pgSchema) {
        await store.close();
        await pgSchema.drop();
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
