// Copies the non-TypeScript files the runtime reads (SQL migrations) next to the compiled code,
// so dist/ is self-contained.
import { cpSync, existsSync } from "node:fs";

const assets = [
  "store/sqlite/migrations",
  "store/postgres/migrations",
  // The interpreter helpers live sessions run (issue 7): plain Python and JavaScript, shipped as is.
  "drivers/python/helper.py",
  "drivers/typescript/helper.mjs",
  "drivers/llm/helper.mjs",
  "drivers/interpreter/helper-protocol.mjs",
];
for (const dir of assets) {
  const from = new URL(`../src/${dir}`, import.meta.url);
  if (existsSync(from)) cpSync(from, new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
