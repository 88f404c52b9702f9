import { afterAll } from "vitest";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { runOutputConformance } from "./output-conformance.js";

const homes: (() => void)[] = [];
afterAll(() => homes.forEach((remove) => remove()));

runOutputConformance("sqlite", async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  return openSqliteStore(config);
});
