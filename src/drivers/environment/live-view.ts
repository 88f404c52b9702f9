import type { ExecKind } from "../modes.js";
import type { WokeSummary } from "../exec-result.js";
import { type LiveInfo, execPolicyOf } from "../live-api.js";
import type { SleepingSession, WakeReport } from "./live-environment.js";

/** A hibernated session in the live list (GET /session/list): no process, state `hibernated`. */
export function hibernatedInfo(s: SleepingSession): LiveInfo {
  const kind = s.kind as ExecKind;
  return {
    id: s.id,
    mode: kind,
    server: s.server,
    state: { status: "hibernated", cwd: s.cwd, paused: s.mark.paused, running_exec_id: null, queued: 0 },
    session_id: s.id,
    name: s.name,
    kind,
    pid: null,
    cwd: s.cwd,
    started_at: s.mark.at,
    last_activity_at: s.mark.at,
    running_exec_id: null,
    queued: 0,
    exec_policy: execPolicyOf(s.exec_policy),
    paused: s.mark.paused,
    lifetime_ends_at: null,
    hibernated_at: s.mark.at,
  };
}

/** What an exec's answer says of the wake it waited for (`woke`). */
export function wokeSummary(report: WakeReport): WokeSummary {
  return {
    hibernated_at: report.hibernated_at,
    slept_ms: report.slept_ms,
    replayed: report.replayed,
    failed: report.failed,
    skipped: report.skipped,
    duration_ms: report.duration_ms,
  };
}
