import { type Node, parse } from "acorn";
import { type TransformFailure, transform } from "esbuild";

/**
 * Turns one TypeScript cell into a script the helper runs in its persistent `vm` context:
 *
 * 1. esbuild strips the types (TypeScript syntax, no type-check; imports kept as written, since a
 *    cell's import is for the cells after it) and gives a source map back to the cell's lines;
 * 2. acorn (the parser Node's own REPL uses for top-level await) finds the top-level statements,
 *    and we rewrite them so that what a cell declares lands on the context and lives on:
 *    `const|let|var a = …` → `(a = …)`, `class A …` → `A = class A …`, `function f` stays hoisted
 *    and is also put on the context, `import x from "m"` → bindings from `await import("m")`
 *    resolved from the session's cwd; the last expression statement becomes the returned value;
 * 3. the body is wrapped in a function (async when the cell awaits at the top level), its header
 *    on line 1 so line numbers stay those of esbuild's output (the map does the rest).
 *
 * Consequences worth knowing (docs/interpreters.md): declarations become plain properties of the
 * context, so `const` can be redeclared (like in a REPL) and is not read-only.
 */

/** A cell ready for the helper. */
export interface CompiledCell {
  readonly code: string;
  /** The cell awaits at the top level: the wrapper is async and its promise is awaited. */
  readonly async: boolean;
  /** The cell ends with an expression whose value is the result. */
  readonly hasValue: boolean;
  /** esbuild's source map (version 3), generated → cell; absent for a plain JavaScript cell (positions are the cell's). */
  readonly map: string | undefined;
  /** Characters the wrapper added at the start of line 1. */
  readonly headerLength: number;
}

/** A cell that does not parse: the message names the line and column (1-based) in the cell. */
export interface CellSyntaxError {
  readonly error: string;
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

type AnyNode = Node & Record<string, any>;

/** The file name a cell's frames show in stacks. */
export function cellFileName(cell: number): string {
  return `cell-${cell}.ts`;
}

/** Compiles one cell (see the module comment). */
export async function compileCell(source: string, cell: number): Promise<CompiledCell | CellSyntaxError> {
  const file = cellFileName(cell);
  // A cell that is plain JavaScript (no types) skips the transpiler: esbuild's answer would be the
  // same code, and asking its service process costs a round trip between processes per cell.
  // Every TypeScript construct fails to parse as JavaScript except type arguments (`f<T>(x)`,
  // `new Map<K, V>()` read as comparisons), so a cell with a `<` always goes through esbuild.
  const plain = source.includes("<") ? undefined : parseScript(source);
  if (plain) return rewrite(source, plain, undefined);
  let js: string;
  let map: string;
  try {
    const out = await transform(source, {
      loader: "ts",
      format: "esm",
      target: "es2022",
      sourcemap: "external",
      sourcefile: file,
      // Keep imports that the cell itself does not use: later cells do.
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
      logLevel: "silent",
    });
    js = out.code;
    map = out.map;
  } catch (err) {
    return { error: esbuildError(err as TransformFailure, source, file) };
  }
  let program: AnyNode;
  try {
    program = parse(js, { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true }) as AnyNode;
  } catch (err) {
    return { error: `SyntaxError: ${(err as Error).message} (in the transpiled cell)\n` };
  }
  return rewrite(js, program, map);
}

/** The cell parsed as JavaScript, or undefined when it is not (TypeScript syntax, or an error esbuild will name). */
function parseScript(source: string): AnyNode | undefined {
  try {
    return parse(source, { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true }) as AnyNode;
  } catch {
    return undefined;
  }
}

/** Step 2 and 3 of the module comment, on JavaScript `js` and its AST. */
function rewrite(source: string, program: AnyNode, map: string | undefined): CompiledCell {
  const js = withDynamicImportsFromCwd(source, program);
  const edits: Edit[] = [];
  const hoisted: string[] = [];
  const declared: string[] = [];
  let needsAsync = false;
  let returnInHeader = false;
  const body = program.body as AnyNode[];
  body.forEach((statement, index) => {
    let node = statement;
    if (node.type === "ExportNamedDeclaration" || node.type === "ExportDefaultDeclaration") {
      if (!node.declaration) {
        edits.push({ start: node.start, end: node.end, text: "" });
        return;
      }
      edits.push({ start: node.start, end: node.declaration.start, text: "" });
      node = node.declaration;
    }
    switch (node.type) {
      case "ImportDeclaration":
        needsAsync = true;
        edits.push({ start: node.start, end: node.end, text: importText(node) });
        return;
      case "VariableDeclaration":
        edits.push(...declarationEdits(node, js));
        // Assignments read undeclared names as errors (`var E = ((E) => …)(E || {})`, what esbuild makes of an enum): create them first.
        for (const declarator of node.declarations as AnyNode[]) declared.push(...patternNames(declarator.id));
        return;
      case "FunctionDeclaration":
        if (node.id) hoisted.push(node.id.name as string);
        return;
      case "ClassDeclaration":
        if (node.id) {
          edits.push({ start: node.start, end: node.start, text: `${node.id.name} = ` });
          edits.push({ start: node.end, end: node.end, text: ";" });
        }
        return;
      case "ExpressionStatement":
        // (A lone string is parsed as a directive; as the last statement of a cell it is a value.)
        if (index === body.length - 1) {
          const expression = js.slice(node.expression.start, node.expression.end);
          // The prefix goes at the end of the line before, when the statement starts a line, so its columns stay put.
          const lineStart = js.lastIndexOf("\n", node.start - 1) + 1;
          if (js.slice(lineStart, node.start).trim() === "") {
            if (lineStart === 0) returnInHeader = true;
            else edits.push({ start: lineStart - 1, end: lineStart - 1, text: " return { value: (" });
            edits.push({ start: node.start, end: node.end, text: `${expression}) };` });
          } else {
            edits.push({ start: node.start, end: node.end, text: `return { value: (${expression}) };` });
          }
        }
        return;
      default:
        return;
    }
  });
  const last = body[body.length - 1];
  const hasValue = last?.type === "ExpressionStatement";
  let code = js;
  // From the end, so offsets stay valid; at one offset a replacement goes before an insertion, so the insertion lands first.
  edits.sort((a, b) => b.start - a.start || b.end - b.start - (a.end - a.start));
  for (const edit of edits) code = code.slice(0, edit.start) + edit.text + code.slice(edit.end);
  const isAsync = needsAsync || /\bawait\b/.test(js);
  const header =
    `(${isAsync ? "async " : ""}function () { ` +
    declared.map((name) => `if (!(${JSON.stringify(name)} in globalThis)) globalThis.${name} = undefined; `).join("") +
    hoisted.map((name) => `globalThis.${name} = ${name}; `).join("") +
    (returnInHeader ? "return { value: (" : "");
  return { code: `${header}${code}\n})()`, async: isAsync, hasValue, map, headerLength: header.length };
}

/**
 * `import("m")` anywhere in the cell → `__sdim("m")`: resolved from the session's cwd as a static
 * import is (a script in a `vm` context has no dynamic import of its own without
 * --experimental-vm-modules). The name has the keyword's six characters, so no position moves
 * and the AST and source map stay true.
 */
function withDynamicImportsFromCwd(js: string, program: AnyNode): string {
  const starts: number[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== "object" || typeof (value as AnyNode).type !== "string") return;
    const node = value as AnyNode;
    if (node.type === "ImportExpression") starts.push(node.start);
    for (const [key, child] of Object.entries(node)) if (key !== "type" && typeof child === "object") visit(child);
  };
  visit(program);
  let out = js;
  for (const start of starts) out = `${out.slice(0, start)}${DYNAMIC_IMPORT}${out.slice(start + DYNAMIC_IMPORT.length)}`;
  return out;
}

/** What a cell's `import(…)` calls instead (see withDynamicImportsFromCwd; the helper puts it on the context). */
const DYNAMIC_IMPORT = "__sdim";

/** The names a declaration pattern binds (`a`, `{ b, c: [d] }`, `...rest`). */
function patternNames(pattern: AnyNode | null): string[] {
  if (!pattern) return [];
  switch (pattern.type) {
    case "Identifier":
      return [pattern.name as string];
    case "ObjectPattern":
      return (pattern.properties as AnyNode[]).flatMap((p) => patternNames(p.type === "RestElement" ? p.argument : p.value));
    case "ArrayPattern":
      return (pattern.elements as (AnyNode | null)[]).flatMap((e) => patternNames(e));
    case "AssignmentPattern":
      return patternNames(pattern.left);
    case "RestElement":
      return patternNames(pattern.argument);
    default:
      return [];
  }
}

/** `import a, { b as c } from "m"` → bindings of `await import("m")`, on one line. */
function importText(node: AnyNode): string {
  const from = JSON.stringify(node.source.value);
  const names: Record<string, string> = {};
  for (const spec of node.specifiers as AnyNode[]) {
    if (spec.type === "ImportDefaultSpecifier") names[spec.local.name] = "default";
    else if (spec.type === "ImportNamespaceSpecifier") names[spec.local.name] = "*";
    else names[spec.local.name] = spec.imported.type === "Literal" ? String(spec.imported.value) : spec.imported.name;
  }
  if (!Object.keys(names).length) return `await __sessiond.import(${from});`;
  return `Object.assign(globalThis, __sessiond.bind(await __sessiond.import(${from}), ${JSON.stringify(names)}));`;
}

/** `const a = 1, { b } = o;` → `(     a = 1, { b } = o);` (columns kept where it is cheap). */
function declarationEdits(node: AnyNode, js: string): Edit[] {
  const declarators = node.declarations as AnyNode[];
  const first = declarators[0];
  if (!first) return [];
  const keyword = js.slice(node.start, first.start);
  const edits: Edit[] = [{ start: node.start, end: first.start, text: `(${" ".repeat(Math.max(0, keyword.length - 1))}` }];
  for (const declarator of declarators) {
    if (!declarator.init) edits.push({ start: declarator.id.end, end: declarator.id.end, text: " = void 0" });
  }
  const hasSemicolon = js[node.end - 1] === ";";
  edits.push(hasSemicolon ? { start: node.end - 1, end: node.end, text: ");" } : { start: node.end, end: node.end, text: ");" });
  return edits;
}

/** esbuild's first error as a SyntaxError message with the cell's line and column (1-based) and a caret. */
function esbuildError(err: TransformFailure, source: string, file: string): string {
  const first = err.errors?.[0];
  if (!first) return `SyntaxError: ${String(err.message ?? err)}\n`;
  const loc = first.location;
  if (!loc) return `SyntaxError: ${first.text}\n`;
  const lineText = loc.lineText ?? source.split("\n")[loc.line - 1] ?? "";
  return `  File ${file}, line ${loc.line}\n    ${lineText}\n    ${" ".repeat(loc.column)}^\nSyntaxError: ${first.text} (line ${loc.line}, column ${loc.column + 1})\n`;
}
