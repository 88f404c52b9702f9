import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";
import type { LiveProcess, SessionDriver, StartSpec } from "../driver.js";
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

  constructor(private readonly keptMaps: number) {}

  async prepare(input: string, cell: number) {
    const compiled = await compileCell(input, cell);
    if ("error" in compiled) return compiled;
    this.maps.set(cell, { map: compiled.map, headerLength: compiled.headerLength });
    if (this.maps.size > this.keptMaps) this.maps.delete(this.maps.keys().next().value!);
    return { request: { code: compiled.code, async: compiled.async, hasValue: compiled.hasValue } };
  }

  finish(reply: HelperReply) {
    return {
      ...(typeof reply.value === "string" ? { stdout: `${reply.value}\n` } : {}),
      ...(typeof reply.error === "string" ? { stderr: `${this.mapStack(reply.error)}\n` } : {}),
    };
  }

  mayChangeState(input: string): boolean {
    return MAY_CHANGE_STATE.test(input);
  }

  /** `cell-3.ts:L:C` in the transpiled script → the same cell's line and column as typed. */
  private mapStack(stack: string): string {
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

/**
 * Live TypeScript sessions: a child node per session running helper.mjs, with one persistent `vm`
 * context; cells are transpiled by esbuild in the server (its one long-lived service process
 * serves every session) — see docs/interpreters.md.
 */
export class TypeScriptDriver implements SessionDriver {
  readonly kind = "typescript" as const;
  readonly targets = ["local"] as const;
  private readonly nodePath: string;
  private readonly log: DriverLog;
  private readonly keptMaps: number;

  constructor(options: TypeScriptDriverOptions = {}) {
    this.nodePath = options.nodePath ?? process.execPath;
    this.log = options.log ?? silentLog;
    this.keptMaps = options.keptMaps ?? 1000;
  }

  start(spec: StartSpec): Promise<LiveProcess> {
    return PipeProcess.start(spec, {
      command: this.nodePath,
      args: [HELPER],
      language: new TypeScriptLanguage(this.keptMaps),
      log: this.log,
      readOnlyPaths: [HELPERS_DIR, ...installPrefix(this.nodePath)],
    });
  }
}
