/**
 * sessiond, embedded. Seed 004's session functions (startSession … configureWebhook) on the
 * SQLite store in SESSIOND_HOME, plus the engine and domain types for deeper use.
 *
 * @example
 * import { startSession, incrementIteration, completeSession } from "sessiond";
 * const session = await startSession("Implement feature X", "developer", { maxIterations: 50 });
 * await incrementIteration(session.id, { phase: "planning" });
 * await completeSession(session.id, "Feature implemented");
 */
export * from "./sdk/embedded.js";
export type { ContinuumContext, ContinuumEnvironment, ExecutionFrame, ScopeOptions, SessionPaths } from "./sdk/context.js";
export * from "./core/index.js";
export { EventBus, SessionManager, type ChangeListener, type SessionChange, type Recovery, type SessionManagerOptions, type WriteOptions } from "./engine/index.js";
export { openStore, openSqliteStore, type Store, type SyncStore, type WebhookRecord } from "./store/index.js";
/** Writing a mode of your own (docs/drivers.md): the driver contract, and the check sessiond applies to a driver module's export. */
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
  SandboxPlan,
  SandboxTools,
  ServerSpec,
  SessionDriver,
  SessionProcess,
  StartCheck,
  StartSpec,
  TerminalTap,
} from "./drivers/driver.js";
export type { DriverLog } from "./drivers/log.js";
export type { ModeOptions } from "./drivers/mode-options.js";
export { type DriverContext, type DriverExport, checkDriver } from "./drivers/driver-modules.js";
