import { statSync } from "node:fs";
import { afterAll, expect, it } from "vitest";
import { dataPaths } from "../../src/core/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { SESSION_READ_COLUMNS, sessionRowFromValues } from "../../src/store/rows.js";
import { tempHome } from "../helpers/temp-home.js";
import { runStoreConformance } from "./conformance.js";
import { runListOrderConformance } from "./list-order-conformance.js";

const homes: (() => void)[] = [];
afterAll(() => homes.forEach((remove) => remove()));

const openSqlite = async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  return openSqliteStore(config);
};
runStoreConformance("sqlite", openSqlite);
runListOrderConformance("sqlite", openSqlite);

it("keeps the database readable by its owner only", async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  const store = openSqliteStore(config);
  await store.close();
  expect(statSync(dataPaths(config).database).mode & 0o777).toBe(0o600);
});

it("reads a session row's values in SESSION_READ_COLUMNS' order", () => {
  const values = SESSION_READ_COLUMNS.map((column) => `value of ${column}`);
  const row = sessionRowFromValues(values) as unknown as Record<string, unknown>;
  expect(Object.keys(row)).toEqual([...SESSION_READ_COLUMNS]);
  for (const column of SESSION_READ_COLUMNS) expect(row[column]).toBe(`value of ${column}`);
});
