// Copies the non-TypeScript files the runtime reads (SQL migrations) next to the compiled code,
// so dist/ is self-contained.
import { cpSync, existsSync } from "node:fs";

const assets = ["store/sqlite/migrations"];
for (const dir of assets) {
  const from = new URL(`../src/${dir}`, import.meta.url);
  if (existsSync(from)) cpSync(from, new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
