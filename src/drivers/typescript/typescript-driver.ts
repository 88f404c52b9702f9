import { SourceMap, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errors } from "../../core/index.js";
import type { LiveProcess, SessionDriver, StartCheck, StartSpec } from "../driver.js";
import { type CellLanguage, type HelperReply, PipeProcess } from "../interpreter/index.js";
import { type DriverLog, silentLog } from "../log.js";
import { HELPERS_DIR, installPrefix } from "../sandbox/index.js";
import { compileCell } from "./compile-cell.js";

/** Options of the typescript driver. */
export interface TypeScriptDriverOptions {
  /** The node that runs the helper. @default process.execPath (the server's own node) */
  readonly nodePath?: string;
  readonly log?: DriverLog;
  /** Source maps kept for stack traces (cells older than that show transpiled positions). @default 1000 */
  readonly keptMaps?: number;
  /**
   * Finds an installed package's folder (`typescript`, `@types/node`) for type-checked sessions,
   * or undefined when it is not installed. @default resolution from sessiond's own install
   */
  readonly findPackage?: (name: string, from?: string) => string | undefined;
}

/** The folders a type-checking helper loads: the compiler, and the Node types (with what they import) when installed. */
interface CheckerPackages {
  readonly typescript: string;
  readonly typesNode: string | undefined;
  /** Everything the helper reads, for the sandbox's read-only view. */
  readonly readOnly: readonly string[];
}

const require = createRequire(import.meta.url);

/** A package's folder resolved from `from` (default: sessiond's own install), or undefined when it is not installed. */
function findInstalled(name: string, from?: string): string | undefined {
  try {
    return dirname((from ? createRequire(join(from, "package.json")) : require).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** The helper script, shipped beside this file (scripts/copy-assets.mjs copies it into dist/). */
const HELPER = fileURLToPath(new URL("./helper.mjs", import.meta.url));

/** Cells that may move the working directory or touch the environment (then saved for recovery at once). */
const MAY_CHANGE_STATE = /\bprocess\s*\.\s*(chdir|env)\b/;

/** A frame position in a cell, `cell-3.ts:2:7`. */
const CELL_POSITION = /cell-(\d+)\.ts:(\d+):(\d+)/g;

/**
 * The TypeScript language of one session: compiles cells (compile-cell.ts) and maps the stacks
 * the helper reports back to the cells' own lines and columns, through each cell's source map.
 */
class TypeScriptLanguage implements CellLanguage {
  readonly kind = "typescript" as const;
  /** Per cell: its source map (parsed on first use: most cells never throw) and the wrapper's length. */
  private readonly maps = new Map<number, { map: string | SourceMap | undefined; headerLength: number }>();

  /** @param typecheck the helper type-checks each cell (sent as typed, `check`) before running it */
  constructor(
    private readonly keptMaps: number,
    private readonly typecheck: boolean,
  ) {}

  async prepare(input: string, cell: number) {
    const compiled = await compileCell(input, cell);
    if ("error" in compiled) return compiled;
    this.maps.set(cell, { map: compiled.map, headerLength: compiled.headerLength });
    if (this.maps.size > this.keptMaps) this.maps.delete(this.maps.keys().next().value!);
    return { request: { code: compiled.code, async: compiled.async, hasValue: compiled.hasValue, ...(this.typecheck ? { check: input } : {}) } };
  }

  finish(reply: HelperReply) {
    // Type errors carry the cell's own positions already: they are not stacks to map.
    const stderr = typeof reply.typeErrors === "string" ? reply.typeErrors : typeof reply.error === "string" ? `${this.mapStack(reply.error)}\n` : undefined;
    return {
      ...(typeof reply.value === "string" ? { stdout: `${reply.value}\n` } : {}),
      ...(stderr === undefined ? {} : { stderr }),
    };
  }

  mayChangeState(input: string): boolean {
    return MAY_CHANGE_STATE.test(input);
  }

  /**
   * `cell-3.ts:L:C` in the transpiled script → the same cell's line and column as typed, in the
   * first MAPPED_STACK_CHARS of the stack: the error text comes from the cell's process, which
   * may make it megabytes of positions, each a source-map lookup on the server's event loop.
   */
  private mapStack(stack: string): string {
    if (stack.length > MAPPED_STACK_CHARS) return this.mapStack(stack.slice(0, MAPPED_STACK_CHARS)) + stack.slice(MAPPED_STACK_CHARS);
    return stack.replace(CELL_POSITION, (whole, cellText: string, lineText: string, columnText: string) => {
      const entry = this.maps.get(Number(cellText));
      if (!entry) return whole;
      const line = Number(lineText) - 1;
      const column = Number(columnText) - 1 - (line === 0 ? entry.headerLength : 0);
      if (entry.map === undefined) return `cell-${cellText}.ts:${line + 1}:${Math.max(0, column) + 1}`;
      if (typeof entry.map === "string") entry.map = new SourceMap(JSON.parse(entry.map));
      const found = entry.map.findEntry(line, Math.max(0, column)) as { originalLine?: number; originalColumn?: number };
      if (found.originalLine === undefined) return whole;
      return `cell-${cellText}.ts:${found.originalLine + 1}:${(found.originalColumn ?? 0) + 1}`;
    });
  }
}

/** How much of an error's stack has its positions mapped (a real stack is a few KiB; the rest is left as it came). */
const MAPPED_STACK_CHARS = 64 * 1024;

/**
 * Live TypeScript sessions: a child node per session running helper.mjs, with one persistent `vm`
 * context; cells are transpiled by esbuild in the server (its one long-lived service process
 * serves every session) — see docs/interpreters.md. A session started with `typecheck` also
 * type-checks each cell in its helper (checker.mjs), with the `typescript` package (an optional
 * peer dependency: looked for only when a session asks).
 */
export class TypeScriptDriver implements SessionDriver {
  readonly kind = "typescript" as const;
  readonly targets = ["local"] as const;
  readonly startOptions = ["typecheck"] as const;
  private readonly nodePath: string;
  private readonly log: DriverLog;
  private readonly keptMaps: number;
  private readonly findPackage: (name: string, from?: string) => string | undefined;
  private packages: CheckerPackages | undefined;

  constructor(options: TypeScriptDriverOptions = {}) {
    this.nodePath = options.nodePath ?? process.execPath;
    this.log = options.log ?? silentLog;
    this.keptMaps = options.keptMaps ?? 1000;
    this.findPackage = options.findPackage ?? findInstalled;
  }

  /** @throws validation naming `typecheck` when type-checking is asked for and the typescript package is not installed */
  async checkStart(start: StartCheck): Promise<void> {
    if (start.options.typecheck === true) this.checkerPackages();
  }

  start(spec: StartSpec): Promise<LiveProcess> {
    const packages = spec.options?.typecheck === true ? this.checkerPackages() : undefined;
    return PipeProcess.start(spec, {
      command: this.nodePath,
      args: packages ? [HELPER, "--typecheck", packages.typescript, ...(packages.typesNode ? [packages.typesNode] : [])] : [HELPER],
      language: new TypeScriptLanguage(this.keptMaps, packages !== undefined),
      log: this.log,
      readOnlyPaths: [HELPERS_DIR, ...installPrefix(this.nodePath), ...(packages?.readOnly ?? [])],
    });
  }

  /** Where typescript (and @types/node, when installed) are, looked up once. @throws validation naming `typecheck` without typescript */
  private checkerPackages(): CheckerPackages {
    if (this.packages) return this.packages;
    const typescript = this.findPackage("typescript");
    if (typescript === undefined) {
      throw errors.validation("typecheck", "type-checking needs the typescript package, which is not installed with sessiond (npm install typescript: an optional peer dependency)");
    }
    const typesNode = this.findPackage("@types/node");
    // @types/node imports undici-types (fetch and friends): the helper must see it too.
    const undiciTypes = typesNode === undefined ? undefined : this.findPackage("undici-types", typesNode);
    this.packages = { typescript, typesNode, readOnly: [typescript, ...(typesNode ? [typesNode] : []), ...(undiciTypes ? [undiciTypes] : [])] };
    return this.packages;
  }
}
