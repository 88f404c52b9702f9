/** Live TypeScript sessions. */
export { type CellSyntaxError, type CompiledCell, cellFileName, compileCell } from "./compile-cell.js";
export { TypeScriptDriver, type TypeScriptDriverOptions } from "./typescript-driver.js";
