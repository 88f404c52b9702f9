import { SessiondError, isSessiondError } from "../core/index.js";

/**
 * SQLite result codes (better-sqlite3's `code`, extended codes included) for a statement the
 * database refused because of what it carried: a constraint, a value too big or of the wrong kind.
 * Busy, I/O, full, read-only and corrupt databases are the store failing, not a write.
 */
const SQLITE_REFUSALS = ["SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE"];
const SQLITE_DUPLICATE = ["SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"];

/**
 * PostgreSQL SQLSTATE classes of a statement refused for what it carried: 22 data exception (NUL
 * in text, a number out of range), 23 integrity constraint violation, 54 program limit exceeded
 * (an index entry too big). Connection, resource, operator and system classes (08, 53, 57, 58…)
 * are the store failing.
 */
const PG_REFUSAL_CLASSES = ["22", "23", "54"];
const PG_UNIQUE_VIOLATION = "23505";

/**
 * The error for the writes of a commit the store refused because of a value a write carried,
 * whatever the store: `conflict` for a duplicate key, `write_refused` otherwise. Undefined when
 * the store itself failed (a lost connection, a full or busy disk): then no write is to blame, and
 * committing fewer writes would not help.
 */
export function refusedWriteError(err: unknown): SessiondError | undefined {
  if (isSessiondError(err)) return err.status < 500 ? err : undefined;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  const reason = String((err as Error).message ?? code);
  if (code.startsWith("SQLITE_")) {
    if (SQLITE_DUPLICATE.includes(code)) return duplicate(err);
    return SQLITE_REFUSALS.some((c) => code === c || code.startsWith(`${c}_`)) ? refused(reason, err) : undefined;
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    if (code === PG_UNIQUE_VIOLATION) return duplicate(err);
    return PG_REFUSAL_CLASSES.includes(code.slice(0, 2)) ? refused(reason, err) : undefined;
  }
  return undefined;
}

/** Marks a store failure that certainly applied nothing (see rolledBack). */
const ROLLED_BACK = Symbol("rolled back");

/**
 * Marks `err` as a failure before the transaction's COMMIT was sent: the database applied none
 * of it, whatever happened to the connection. @returns err
 */
export function markRolledBack<E>(err: E): E {
  if (err !== null && typeof err === "object") (err as Record<symbol, unknown>)[ROLLED_BACK] = true;
  return err;
}

/**
 * True when the store failed before committing (markRolledBack): nothing of the commit was
 * applied, so its writes may be sent again. A failure on COMMIT itself may have committed.
 */
export function rolledBack(err: unknown): boolean {
  return err !== null && typeof err === "object" && (err as Record<symbol, unknown>)[ROLLED_BACK] === true;
}

function refused(reason: string, cause: unknown): SessiondError {
  return new SessiondError("write_refused", { reason }, { cause });
}

function duplicate(cause: unknown): SessiondError {
  return new SessiondError("conflict", { reason: "a session with this id or name already exists" }, { field: "name", cause });
}
