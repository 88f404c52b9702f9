/**
 * The logger drivers and the coordinator write to: the subset of pino's API they use, so the
 * server passes its pino logger (or a child of it) and tests pass nothing.
 */
export interface DriverLog {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** A logger that drops everything. */
export const silentLog: DriverLog = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
