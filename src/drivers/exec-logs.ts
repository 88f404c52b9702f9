import { errors } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import { type ExecResult, execResultFromEvent } from "./exec-result.js";
import type { LogsQuery } from "./live-api.js";

const MAX_LOGS = 1000;
const DEFAULT_LOGS = 100;

/**
 * A session's past execs, oldest first, read back from its `exec` events: those after a seq
 * (`since` a number or digits) or at/after a time (`since` an ISO timestamp).
 * @throws validation naming `since` or `limit`; not_found
 */
export async function readExecLogs(manager: SessionManager, ref: string, query: LogsQuery = {}): Promise<ExecResult[]> {
  const limit = query.limit ?? DEFAULT_LOGS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOGS) throw errors.validation("limit", `expected an integer from 1 to ${MAX_LOGS}`);
  const since = parseSince(query.since);
  const session = await manager.get(ref);
  const results: ExecResult[] = [];
  let after = since.seq;
  while (results.length < limit) {
    const batch = since.time === undefined ? limit - results.length : MAX_LOGS;
    const events = await manager.listEvents(session.id, { types: ["exec"], after_seq: after, limit: batch });
    if (!events.length) break;
    for (const event of events) {
      if (since.time !== undefined && Date.parse(event.ts) < since.time) continue;
      if (results.length < limit) results.push(execResultFromEvent(event));
    }
    after = events.at(-1)!.seq;
  }
  return results;
}

function parseSince(since: string | number | undefined): { seq: number; time?: number } {
  if (since === undefined || since === "") return { seq: 0 };
  if (typeof since === "number" || /^\d+$/.test(since)) {
    const seq = Number(since);
    if (!Number.isSafeInteger(seq) || seq < 0) throw errors.validation("since", "expected a non-negative seq or an ISO timestamp");
    return { seq };
  }
  const time = Date.parse(since);
  if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}/.test(since)) throw errors.validation("since", "expected a seq or an ISO timestamp");
  return { seq: 0, time };
}
