/**
 * Live execution sessions: the driver contract, the registry of drivers, the shell
 * driver, and LiveSessions — the coordinator the server's routes call.
 */
export type {
  ExecOutcome,
  ExecRequest,
  LiveProcess,
  OutputChunk,
  OutputStream,
  ProcessExit,
  ProcessLimits,
  ProcessState,
  RuntimeState,
  ServerSpec,
  SessionDriver,
  SessionProcess,
  StartCheck,
  StartSpec,
  TerminalTap,
} from "./driver.js";
export { carriesExecIo, withoutExecIo } from "./exec-io.js";
export { type ExecResult, type ExecStatus, execResultFromEvent } from "./exec-result.js";
export {
  type ExecPolicy,
  ExecPolicySchema,
  type ExecOptions,
  type LiveInfo,
  LiveInfoSchema,
  type LiveSessionState,
  type LiveState,
  LiveStartSchema,
  type LogsQuery,
  type OutputEvent,
  type StartInput,
} from "./live-api.js";
export { MODE_OPTION_NAMES, type ModeOptions, ModeOptionsSchema, isLoopbackUrl } from "./mode-options.js";
export { LiveSessions, type LiveSessionsOptions } from "./live-sessions.js";
export { INTERPRETER_KINDS, type InterpreterState, type RebuildReport, interpreterStateAt, interpreterStates } from "./environment/index.js";
export { type DriverLog, silentLog } from "./log.js";
export { EXEC_KINDS, type ExecKind, assertModeEnabled, enabledModes, isExecKind, isModeEnabled } from "./modes.js";
export { DriverRegistry, defaultDrivers } from "./registry.js";
export { type DriverContext, type DriverExport, checkDriver, driverFromExport, loadDriverModules } from "./driver-modules.js";
export { ShellDriver, type ShellDriverOptions } from "./shell/index.js";
export { ARTIFACT_CATEGORIES, ensureWorkspace, sessionPaths, workspaceDir } from "./workspace.js";
