/** The shell driver: bash on a PTY. */
export { ShellDriver, type ShellDriverOptions } from "./shell-driver.js";
export { ShellProcess } from "./shell-process.js";
export { parseExports } from "./export-parse.js";
