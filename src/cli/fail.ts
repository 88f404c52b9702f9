import { isSessiondError } from "../core/index.js";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Prints an error the way the CLI reports them (one line, or the wire shape with --json) and sets the exit code. */
export function reportError(err: unknown, json = false): void {
  const usage = isSessiondError(err, "validation");
  if (json && isSessiondError(err)) console.error(JSON.stringify(err.toJSON()));
  else console.error(`sessiond: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = usage ? EXIT.usage : EXIT.failure;
}
