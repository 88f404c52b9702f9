import { afterAll, beforeAll, beforeEach } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { LlmDriver } from "../../src/drivers/llm/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { driverConformance } from "./conformance.js";
import { FakeOpenAI } from "./support/fake-openai.js";

// The llm driver keeps its conversation in a real SessionManager: the suite's session ids
// (conformance-0, conformance-1) are session names there, created fresh for every test.
let fake: FakeOpenAI;
let home: ReturnType<typeof tempHome>;
let manager: SessionManager;

beforeAll(async () => {
  fake = await FakeOpenAI.start();
  home = tempHome();
  manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
});
beforeEach(async () => {
  for (const name of ["conformance-0", "conformance-1"]) {
    const existing = await manager.find(name);
    if (existing) await manager.delete(existing.id);
    await manager.create({ name, kind: "llm" });
  }
});
afterAll(async () => {
  await manager.close();
  await fake.close();
  home.remove();
});

driverConformance(
  "llm",
  () =>
    new LlmDriver({
      records: manager,
      config: resolveConfig({ env: { HOME: "/tmp" }, flags: { llmBaseUrl: fake.baseUrl, llmMaxAttempts: 1, llmRequestTimeoutMs: 60_000 } }),
    }),
  {
    hello: "say hello",
    fail: "status 400 oops",
    sleep: "hang",
    setState: "kept",
    readBack: "first message?",
  },
);
