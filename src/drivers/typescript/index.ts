/** Live TypeScript sessions (issue 7). */
export { type CellSyntaxError, type CompiledCell, cellFileName, compileCell } from "./compile-cell.js";
export { TypeScriptDriver, type TypeScriptDriverOptions } from "./typescript-driver.js";
