import { afterAll } from "vitest";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { runWebhookDeliveryConformance } from "./webhook-conformance.js";

const homes: (() => void)[] = [];
afterAll(() => homes.forEach((remove) => remove()));

runWebhookDeliveryConformance("sqlite", async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  return openSqliteStore(config);
});
