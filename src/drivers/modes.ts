/**
 * Which exec kinds may run (seed 000's `ENABLE_SESSIONS` and `executionModes`). The rule lives in
 * core: the engine applies it too, so a crashed live session is not recovered while its kind is off.
 */
export { EXEC_KINDS, type ExecKind, assertModeEnabled, enabledModes, isExecKind, isModeEnabled } from "../core/index.js";
