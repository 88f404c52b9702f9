import { type ErrorCode, isSessiondError } from "../core/errors.js";
import { visible } from "./output.js";

/** Exit codes of the CLI: 0 ok, 1 the operation failed, 2 the command line was wrong; an exec that timed out 124 (as `timeout(1)`), one interrupted 130 (as a shell reports SIGINT). */
export const EXIT = { ok: 0, failure: 1, usage: 2, timedOut: 124, interrupted: 130 } as const;

/** A mistake on the command line (a bad flag value, JSON that does not parse): exit code 2. */
export class UsageError extends Error {
  /** By name, not prototype: the CLI bundle and the lazily loaded commands each have a copy of this class (see SessiondError). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof Error && value.name === "UsageError";
  }

  override name = "UsageError";
}

/** What to do next, per error code, appended to the one-line message. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  not_found: "run `sessiond list` to see the sessions",
  invalid_transition: "run `sessiond show <session>` to see its status",
  session_not_active: "start a live session with `sessiond start --kind shell`",
  version_conflict: "read the session again and retry",
  unauthorized: "check the token: --token, SESSIOND_TOKEN, or the one in $SESSIOND_HOME/token",
  forbidden: "use the admin token or the local socket",
  rate_limited: "wait and retry",
  shutting_down: "retry in a moment",
};

/**
 * Prints an error the way the CLI reports them — one line, `sessiond: <what> (<what to do>)`, or
 * the wire shape with `--json` — and sets the exit code: 2 for usage and validation errors, 1
 * for everything else.
 */
export function reportError(err: unknown, json = false): void {
  const usage = err instanceof UsageError || isSessiondError(err, "validation");
  if (json && isSessiondError(err)) {
    console.error(JSON.stringify(err.toJSON()));
  } else if (json) {
    console.error(JSON.stringify({ error: { code: usage ? "usage" : "failure", message: messageOf(err) } }));
  } else {
    const hint = isSessiondError(err) ? hintFor(err.code, err.message) : undefined;
    // The message may quote what a session holds (a name, a reason): its control characters are written out.
    console.error(visible(`sessiond: ${oneLine(messageOf(err))}${hint ? ` (${hint})` : ""}`));
  }
  process.exitCode = usage ? EXIT.usage : EXIT.failure;
}

/** What to do next after an error: for some codes it depends on what the message names. */
function hintFor(code: ErrorCode, message: string): string | undefined {
  if (code === "session_not_active") return notActiveHint(message);
  // The server names the API's field; on the command line it is a flag.
  if (code === "validation" && message.startsWith("invalid timeout_ms")) return "that is `--timeout`, in milliseconds";
  if (code === "not_found") return notFoundHint(message);
  // A name taken (`a session named sh … already exists`): names are unique per agent_id (docs/api.md).
  const taken = code === "conflict" ? /^a session named (\S+) .*already exists/.exec(message)?.[1] : undefined;
  if (taken) return `choose another --name; \`sessiond show ${taken}\` shows the one there, and \`sessiond delete ${taken}\` frees the name once it has ended`;
  return HINTS[code];
}

/**
 * What lists the thing not found, from the server's message (`{what} {ref} not found`; only the
 * code and the message cross the wire): the sessions, a session's checkpoints, or nothing to say.
 */
function notFoundHint(message: string): string | undefined {
  if (message.startsWith("session ")) return HINTS.not_found;
  if (message.startsWith("checkpoint ")) return "run `sessiond checkpoint list <session>` to see its checkpoints";
  return undefined;
}

/**
 * What to run for a session that is not live, from the server's message (`cannot exec: session
 * sh is crashed; recover it first`): the command that brings it back, named for that session.
 */
function notActiveHint(message: string): string | undefined {
  // A finished session's message says what to do already (fork it, start a new one).
  if (/ is (completed|failed|timeout);/.test(message)) return undefined;
  const found = /session (.+) is (crashed|paused);/.exec(message);
  if (!found) return HINTS.session_not_active;
  return found[2] === "crashed" ? `run \`sessiond recover ${found[1]}\` for a fresh process` : `run \`sessiond resume ${found[1]}\``;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ");
}
