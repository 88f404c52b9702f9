import { randomBytes } from "node:crypto";
import pg from "pg";
import { type PostgresStoreOptions, openPostgresStore } from "../../src/store/postgres/index.js";
import type { Store } from "../../src/store/index.js";
import { SERVICES } from "./services.js";

/** A schema of its own in the test database, so test files (and tests) can run in parallel. */
export interface TestSchema {
  readonly name: string;
  /** A connection string whose `search_path` is this schema. */
  readonly url: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** Runs one statement on a short-lived connection to the test database, as its superuser. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A connection string to the test database whose tables live in `schema`. */
export function urlWithSchema(schema: string): string {
  const url = new URL(SERVICES.postgres.url);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

/** Creates an empty schema with a random name (`sessiond_test_…`). */
export async function createTestSchema(): Promise<TestSchema> {
  const name = `sessiond_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE SCHEMA ${name}`);
  return { name, url: urlWithSchema(name), drop: () => adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`) };
}

/** Opens the PostgreSQL store on `schema`. */
export function openStoreIn(schema: TestSchema, options: Partial<PostgresStoreOptions> = {}): Promise<Store> {
  return openPostgresStore({ url: schema.url, ...options });
}

/**
 * A fresh, empty PostgreSQL store in a schema of its own, which its `close` drops: the factory
 * the conformance suites take.
 */
export async function openFreshPostgresStore(options: Partial<PostgresStoreOptions> = {}): Promise<Store> {
  const schema = await createTestSchema();
  const store = await openStoreIn(schema, options).catch(async (err: unknown) => {
    await schema.drop();
    throw err;
  });
  return {
    ...store,
    async close() {
      await store.close();
      await schema.drop();
    },
  };
}
