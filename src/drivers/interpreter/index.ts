/** The pipe protocol and process shared by the interpreter drivers (python, typescript). */
export { type CellLanguage, PipeProcess, type PipeProcessOptions } from "./pipe-process.js";
export { type HelperReply, LineReader } from "./protocol.js";
