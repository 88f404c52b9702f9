/**
 * What the event sinks log through: the subset of pino's interface they use, so the server can
 * pass its pino logger (or a child of it) and tests can pass nothing.
 */
export interface SinkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything: the default when none is given. */
export const silentLogger: SinkLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** An error as a loggable, JSON-safe object (pino would serialize it too; tests' loggers may not). */
export function errorFields(err: unknown): { err: { message: string; code?: string } } {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { err: { message: err.message, ...(typeof code === "string" ? { code } : {}) } };
  }
  return { err: { message: String(err) } };
}
