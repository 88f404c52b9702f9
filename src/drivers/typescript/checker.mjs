// The type checker of a type-checked TypeScript session (start option `typecheck`), run inside
// the session's helper (helper.mjs) so its memory and CPU are the session's, not the server's.
//
// One TypeScript LanguageService lives as long as the session, so the standard library and
// @types/node are parsed once: a checked cell costs one new program over files already parsed
// (milliseconds), not a fresh compiler (a second).
//
// How cells see each other: each cell is a module file of its own (in memory, in the session's
// working directory so its imports resolve like the cell's), so the checker's control-flow work
// stays within the cell and a name a cell declares again simply shadows the earlier one — as in
// the session, where a cell's declarations replace earlier ones. The cell's text is wrapped:
//
//   line 1   what earlier cells declared and the cell mentions, as the cell sees it: `import { f, C, T } from "./cell-2"`
//            for functions, classes, types, enums, namespaces and imports (every meaning kept), and
//            `declare let x: typeof import("./cell-1").x` for variables (so a `let` stays assignable
//            and a `const` does not);
//   line 2…  the cell as typed (so a diagnostic's line is the cell's line plus one);
//   last     `export { …what the cell declares }`, for the cells after it.
//
// The cell being checked is always the same file (so the program's roots never change and the
// compiler reuses the module resolution of every other file); once it has run without error it is
// kept under its own name. A cell that fails (a type error, or an error while running) leaves no
// trace: the same cells replayed after a recovery rebuild the same checker.
//
// Plain JavaScript (shipped as is, no build step); `typescript` is loaded from the path sessiond
// resolved (it is an optional peer dependency of sessiond).

import { statSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join, relative } from "node:path";

/** The file that holds the cell being checked, in the session's working directory. */
const CURRENT = ".sessiond-cell.ts";
const KEPT = (cell) => `.sessiond-cell-${cell}.ts`;
const GLOBALS = "/.sessiond-globals.d.ts";
/** Anything that may be an identifier (in code, strings or comments alike: a superset is fine). */
const IDENTIFIER = /[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/gu;

/**
 * The session's globals when @types/node is not installed: what helper.mjs puts in the cell's
 * context, loosely typed, and every node built-in module as `any`.
 */
function fallbackGlobals() {
  const anyValues = [
    "process", "Buffer", "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "fetch", "Headers", "Request", "Response",
    "FormData", "AbortController", "AbortSignal", "Event", "EventTarget", "performance", "crypto", "Blob",
    "MessageChannel", "BroadcastChannel",
  ];
  return [
    "interface Console { [method: string]: (...data: any[]) => void }",
    "declare var console: Console;",
    ...anyValues.map((name) => `declare var ${name}: any;`),
    "declare function require(id: string): any;",
    "declare function setTimeout(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): any;",
    "declare function setInterval(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): any;",
    "declare function setImmediate(handler: (...args: any[]) => void, ...args: any[]): any;",
    "declare function clearTimeout(id: any): void;",
    "declare function clearInterval(id: any): void;",
    "declare function clearImmediate(id: any): void;",
    "declare function queueMicrotask(callback: () => void): void;",
    "declare function structuredClone<T>(value: T, options?: any): T;",
    "declare function atob(data: string): string;",
    "declare function btoa(data: string): string;",
    ...builtinModules.flatMap((name) => (name.startsWith("_") ? [] : [`declare module ${JSON.stringify(name)};`, `declare module ${JSON.stringify(`node:${name}`)};`])),
  ].join("\n");
}

/**
 * A checker for one session.
 * @param {{ typescript: string, typesNode?: string }} paths the typescript package's folder, and @types/node's when installed
 */
export function createChecker(paths) {
  /** @type {typeof import("typescript")} */
  const ts = createRequire(import.meta.url)(paths.typescript);
  const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ["lib.es2022.d.ts"],
    types: paths.typesNode ? ["node"] : [],
    typeRoots: paths.typesNode ? [dirname(paths.typesNode)] : [],
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    allowImportingTsExtensions: true,
  };
  /** In-memory files: path → {text, version}. */
  const files = new Map();
  /**
   * Files read from disk, kept: every program update asks for each file again, and reading the
   * standard library and @types/node each time would cost more than the check. The packages
   * installed beside the compiler (sessiond's own) do not change under a session; other files (the
   * user's modules and packages) are read again when their modification time changes.
   */
  const disk = new Map();
  const fixed = [dirname(paths.typescript), ...(paths.typesNode ? [dirname(paths.typesNode)] : [])];
  function fromDisk(file) {
    const known = disk.get(file);
    if (known && fixed.some((dir) => file.startsWith(`${dir}/`))) return known;
    let mtime;
    try {
      mtime = String(statSync(file).mtimeMs);
    } catch {
      return undefined;
    }
    if (known?.version === mtime) return known;
    const text = ts.sys.readFile(file);
    if (text === undefined) return undefined;
    const entry = { version: mtime, snapshot: ts.ScriptSnapshot.fromString(text) };
    disk.set(file, entry);
    return entry;
  }
  if (!paths.typesNode) files.set(GLOBALS, { text: fallbackGlobals(), version: 1 });
  let roots = [];
  let version = 0;
  /** What earlier cells declared: name → {file, kind: "const" | "let" | "var" | "import"}. */
  const visible = new Map();

  const host = {
    getScriptFileNames: () => roots,
    getScriptVersion: (file) => (files.has(file) ? String(files.get(file).version) : (fromDisk(file)?.version ?? "0")),
    getScriptSnapshot: (file) => {
      const memory = files.get(file);
      return memory ? ts.ScriptSnapshot.fromString(memory.text) : fromDisk(file)?.snapshot;
    },
    getCurrentDirectory: () => process.cwd(),
    getCompilationSettings: () => options,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (file) => files.has(file) || ts.sys.fileExists(file),
    readFile: (file) => files.get(file)?.text ?? ts.sys.readFile(file),
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
    realpath: ts.sys.realpath,
  };
  const service = ts.createLanguageService(host, ts.createDocumentRegistry());

  /** The names a cell declares at its top level, with how later cells should see them; and those it exports itself. */
  function declarations(source) {
    const file = ts.createSourceFile("cell.ts", source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const names = new Map();
    const exported = new Set();
    const bind = (name, kind) => {
      if (ts.isIdentifier(name)) names.set(name.text, kind);
      else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name, kind);
    };
    for (const statement of file.statements) {
      const exports = ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (ts.isVariableStatement(statement)) {
        const flags = statement.declarationList.flags;
        const kind = flags & ts.NodeFlags.Const ? "const" : flags & ts.NodeFlags.Let ? "let" : "var";
        for (const declaration of statement.declarationList.declarations) {
          bind(declaration.name, kind);
          if (exports) bindExported(declaration.name, exported);
        }
      } else if (
        (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) ||
          ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) &&
        statement.name && ts.isIdentifier(statement.name)
      ) {
        names.set(statement.name.text, "import");
        if (exports) exported.add(statement.name.text);
      } else if (ts.isImportDeclaration(statement) && statement.importClause) {
        const clause = statement.importClause;
        if (clause.name) names.set(clause.name.text, "import");
        const bindings = clause.namedBindings;
        if (bindings && ts.isNamespaceImport(bindings)) names.set(bindings.name.text, "import");
        else if (bindings) for (const element of bindings.elements) names.set(element.name.text, "import");
      } else if (ts.isImportEqualsDeclaration(statement)) {
        names.set(statement.name.text, "import");
      } else if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) exported.add(element.name.text);
      }
    }
    return { names, exported };
  }

  function bindExported(name, into) {
    if (ts.isIdentifier(name)) into.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bindExported(element.name, into);
  }

  /** A module specifier from `dir` to an in-memory cell file. */
  function specifier(dir, file) {
    const path = relative(dir, file).replace(/\.ts$/, "");
    return JSON.stringify(path.startsWith("../") ? path : `./${path}`);
  }

  /**
   * Line 1 of a cell's file: what earlier cells declared that this cell uses (a name it mentions
   * at all: a name it does not mention cannot change its types, and leaving it out keeps a
   * cell's cost from growing with the session) and does not declare again.
   */
  function prologue(dir, own, source) {
    const mentioned = new Set(source.match(IDENTIFIER) ?? []);
    const imports = new Map();
    const declared = [];
    for (const [name, { file, kind }] of visible) {
      if (own.has(name) || !mentioned.has(name)) continue;
      if (kind === "import") {
        if (!imports.has(file)) imports.set(file, []);
        imports.get(file).push(name);
      } else {
        declared.push(`declare ${kind} ${name}: typeof import(${specifier(dir, file)}).${name};`);
      }
    }
    return [...[...imports].map(([file, names]) => `import { ${names.join(", ")} } from ${specifier(dir, file)};`), ...declared].join(" ");
  }

  /** tsc's message with the cell's own position and line, the span underlined. */
  function describe(diagnostic, file, source, cell) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const where = file.getLineAndCharacterOfPosition(diagnostic.start);
    const line = where.line; // line 0 is the prologue: TypeScript's line n is the cell's line n (1-based)
    const lineText = source.split("\n")[line - 1] ?? "";
    const width = Math.max(1, Math.min(diagnostic.length ?? 1, lineText.length - where.character));
    const gutter = String(line);
    return (
      `cell-${cell}.ts:${line}:${where.character + 1} - error TS${diagnostic.code}: ${message}\n\n` +
      `${gutter} ${lineText}\n${" ".repeat(gutter.length + 1 + where.character)}${"~".repeat(width)}\n`
    );
  }

  return {
    /**
     * Type-checks a cell with what the cells kept so far declared.
     * @returns the diagnostics as text (undefined when there are none) and a function that keeps the cell for the cells after it
     */
    check(source, cell) {
      const dir = process.cwd();
      const current = join(dir, CURRENT);
      const { names, exported } = declarations(source);
      const line1 = prologue(dir, names, source);
      const exports = [...names.keys()].filter((name) => !exported.has(name));
      const text = `${line1}\n${source}\n;${exports.length ? `export { ${exports.join(", ")} };` : "export {};"}\n`;
      files.set(current, { text, version: ++version });
      roots = paths.typesNode ? [current] : [current, GLOBALS];
      const start = line1.length + 1;
      const end = start + source.length;
      const found = [...service.getSyntacticDiagnostics(current), ...service.getSemanticDiagnostics(current)].filter(
        (d) => d.category === ts.DiagnosticCategory.Error && d.start !== undefined && d.start >= start && d.start <= end,
      );
      let errors;
      if (found.length) {
        const file = service.getProgram().getSourceFile(current);
        errors = found.map((d) => describe(d, file, source, cell)).join("\n");
      }
      return {
        errors,
        keep() {
          // A cell that declares nothing is nothing later cells can see.
          if (names.size === 0) return;
          const kept = join(dir, KEPT(cell));
          files.set(kept, { text, version: 1 });
          for (const [name, kind] of names) visible.set(name, { file: kept, kind });
        },
      };
    },
    /** Parses the standard library and @types/node now, so the first cell does not wait for it. */
    warm() {
      this.check("", 0);
    },
  };
}
