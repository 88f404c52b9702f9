// sessiond's TypeScript session helper: one persistent `vm` context for the whole session.
//
// sessiond compiles each cell (types stripped by esbuild, top-level declarations rewritten to land
// on the context: see compile-cell.ts) and writes one JSON request per line on fd 3; this helper
// answers one JSON line per request on fd 4, so nothing a cell prints on stdout or stderr (fds 1
// and 2) can be taken for the protocol. Requests:
//
//   {"id": n, "op": "exec", "nonce": "...", "cell": c, "code": "...", "async": bool, "hasValue": bool, "check"?: "..."}
//   {"id": n, "op": "state"}
//
// After a cell: the end marker with the request's nonce on stdout and stderr, then the reply
// {"id", "ok", "cwd", "value"?: util.inspect of the last expression, "error"?: the stack,
// "typeErrors"?: TypeScript's diagnostics}.
//
// Started with `--typecheck <typescript's folder> [<@types/node's folder>]`, the helper type-checks
// each request's `check` (the cell as typed) before running it (checker.mjs): a cell with type
// errors does not run. Without it, typescript is never loaded.
// Plain JavaScript (shipped as is, no build step), standard library only.

import { Console } from "node:console";
import { createRequire, isBuiltin } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import vm from "node:vm";
import { serveRequests } from "../interpreter/helper-protocol.mjs";

const HELPER_FILES = [
  fileURLToPath(import.meta.url),
  fileURLToPath(new URL("../interpreter/helper-protocol.mjs", import.meta.url)),
  fileURLToPath(new URL("./checker.mjs", import.meta.url)),
];
const INSPECT = { depth: 4, colors: false, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 };


/** A require that resolves from the session's current working directory. */
function cwdRequire() {
  return createRequire(join(process.cwd(), "[cell]"));
}

/** `import x from "spec"` in a cell: node built-ins, then packages and files from the cwd. */
async function importFromCwd(spec) {
  if (isBuiltin(spec) || spec.startsWith("file:") || spec.startsWith("data:")) return import(spec);
  let resolved;
  try {
    resolved = cwdRequire().resolve(spec);
  } catch (err) {
    // An ESM-only package has no "require" export condition: read its exports map ourselves.
    resolved = resolveEsmOnly(spec);
    if (!resolved) throw err;
  }
  return import(pathToFileURL(resolved).href);
}

function resolveEsmOnly(spec) {
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const subpath = `.${spec.slice(name.length)}`;
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const manifest = join(dir, "node_modules", name, "package.json");
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, "utf8"));
      let target = typeof pkg.exports === "string" || Array.isArray(pkg.exports) ? (subpath === "." ? pkg.exports : undefined) : pkg.exports?.[subpath];
      while (target && typeof target === "object") target = Array.isArray(target) ? target[0] : (target.import ?? target.node ?? target.default);
      if (typeof target === "string") return join(dirname(manifest), target);
      return undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function bind(namespace, names) {
  const out = {};
  for (const [local, name] of Object.entries(names)) out[local] = name === "*" ? namespace : namespace[name];
  return out;
}

const sandbox = {
  console: new Console({ stdout: process.stdout, stderr: process.stderr }),
  process,
  Buffer,
  require: (id) => cwdRequire()(id),
  __sessiond: { import: importFromCwd, bind },
  // A cell's dynamic `import(…)`, renamed by compile-cell.ts.
  __sdim: importFromCwd,
};
for (const name of [
  "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "setTimeout", "clearTimeout", "setInterval", "clearInterval",
  "setImmediate", "clearImmediate", "queueMicrotask", "structuredClone", "fetch", "Headers", "Request", "Response",
  "FormData", "AbortController", "AbortSignal", "Event", "EventTarget", "performance", "crypto", "Blob", "atob", "btoa",
  "MessageChannel", "BroadcastChannel",
]) {
  if (name in globalThis) sandbox[name] = globalThis[name];
}
const context = vm.createContext(sandbox, { name: "sessiond typescript session" });

let current;
process.on("SIGINT", () => current?.interrupt());
// What a cell left running (a timer, a promise nobody awaits) may fail later: say so, stay alive.
process.on("uncaughtException", (err) => process.stderr.write(`Uncaught (from an earlier cell) ${describe(err)}\n`));
process.on("unhandledRejection", (err) => process.stderr.write(`Unhandled rejection (from an earlier cell) ${describe(err)}\n`));

/**
 * The stack of what a cell threw, without the helper's own frames, nor (with `request`) the frame
 * of the cell's wrapper being called (on the last line of the compiled cell).
 */
function describe(err, request) {
  if (err && typeof err === "object" && typeof err.stack === "string") {
    const wrapperCall = request ? `cell-${request.cell}.ts:${request.code.split("\n").length}:` : undefined;
    return err.stack
      .split("\n")
      .filter((line) => !HELPER_FILES.some((file) => line.includes(file)) && !line.includes("node:vm") && !line.includes("node:internal"))
      .filter((line) => !wrapperCall || !line.includes(wrapperCall))
      .join("\n");
  }
  return `Uncaught ${inspect(err, INSPECT)}`;
}

/** Where typescript (and @types/node) are, with `--typecheck`; undefined when cells are not checked. */
const typecheckAt = process.argv.indexOf("--typecheck");
const checkerPaths = typecheckAt === -1 ? undefined : process.argv.slice(typecheckAt + 1);
/** The session's type checker (loaded once, on first need), or why it could not be. */
let checker;

function loadChecker() {
  checker ??= (async () => {
    const [typescript, typesNode] = checkerPaths;
    try {
      const { createChecker } = await import("./checker.mjs");
      return createChecker({ typescript, ...(typesNode ? { typesNode } : {}) });
    } catch (err) {
      return { failed: `type-checking is unavailable: cannot load typescript from ${typescript}: ${err?.message ?? err}\n` };
    }
  })();
  return checker;
}

async function runCell(request) {
  let keep;
  if (checkerPaths && typeof request.check === "string") {
    const loaded = await loadChecker();
    if (loaded.failed) return { ok: false, typeErrors: loaded.failed };
    let checked;
    try {
      checked = loaded.check(request.check, request.cell);
    } catch (err) {
      return { ok: false, typeErrors: `type-checking failed (the cell did not run): ${err?.stack ?? err}\n` };
    }
    if (checked.errors) return { ok: false, typeErrors: checked.errors };
    keep = checked.keep;
  }
  const outcome = await runChecked(request);
  // Only a cell that ran without error is part of the state later cells are checked against.
  if (outcome.ok) keep?.();
  return outcome;
}

async function runChecked(request) {
  let interrupt;
  const interrupted = new Promise((_, reject) => (interrupt = reject));
  interrupted.catch(() => {});
  current = { interrupt: () => interrupt(new Error("Interrupted (the cell's pending work may still run in the background)")) };
  try {
    const script = new vm.Script(request.code, { filename: `cell-${request.cell}.ts` });
    let result = script.runInContext(context, { breakOnSigint: true, displayErrors: false });
    if (request.async) result = await Promise.race([result, interrupted]);
    const value = request.hasValue && result ? result.value : undefined;
    return { ok: true, ...(value === undefined ? {} : { value: inspect(value, INSPECT) }) };
  } catch (err) {
    return { ok: false, error: describe(err, request) };
  } finally {
    current = undefined;
  }
}

serveRequests(runCell, `node ${process.versions.node}`);
// Ready first (the session starts as fast as an unchecked one): the compiler loads and parses the
// standard library after, and the first cell waits for that.
if (checkerPaths) setImmediate(async () => (await loadChecker()).warm?.());
