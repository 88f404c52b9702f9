// Imports sessiond/langgraph — or, with the argument `sessiond`, sessiond itself — from the
// sources, and prints what happened as one JSON line.
const entry = process.argv[2] === "sessiond" ? "../../../src/index.js" : "../../../src/adapters/langgraph/index.js";
try {
  const module = (await import(entry)) as Record<string, unknown>;
  process.stdout.write(`${JSON.stringify({ loaded: Object.keys(module).length })}\n`);
} catch (err) {
  const e = err as Error & { code?: string };
  process.stdout.write(`${JSON.stringify({ name: e.name, message: e.message, code: e.code ?? null })}\n`);
}
