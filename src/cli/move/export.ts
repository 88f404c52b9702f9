import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Checkpoint, Session, SessionEvent } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { execFileName, toActivity, toSeed004 } from "./layouts.js";
import { Progress } from "./progress.js";

/** The layouts `sessiond export` writes. */
export const LAYOUTS = ["sessions", "activity"] as const;
export type Layout = (typeof LAYOUTS)[number];

/** What an export wrote. */
export interface ExportSummary {
  layout: Layout;
  dir: string;
  exported: number;
  /** Sessions the layout has no place for (agent sessions in the activity layout). */
  skipped: number;
}

/** Events read per request. */
const EVENT_PAGE = 1000;

async function allEvents(client: CliClient, id: string): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  for (;;) {
    const page = await client.sessions.listEvents(id, { after_seq: events.at(-1)?.seq ?? 0, limit: EVENT_PAGE });
    events.push(...page.items);
    if (page.items.length < EVENT_PAGE && !page.next_cursor) return events;
  }
}

/** Writes a file whole or not at all (a temp file renamed), so an interrupted export leaves no half file. */
function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * Writes every session the server holds into `dir` in `layout`: `sessions/<id>/session.json`
 * (seed 004), or `data/activity/YYYY-MM-DD/session_<id>/meta.json` + `01-exec.json`… (seed 000;
 * exec sessions only). Files already there are replaced, so exporting twice gives the same tree.
 */
export async function exportDir(client: CliClient, dir: string, layout: Layout): Promise<ExportSummary> {
  const sessions: Session[] = [];
  for await (const s of client.sessions.iterateSessions({})) sessions.push(s);
  const summary: ExportSummary = { layout, dir, exported: 0, skipped: 0 };
  const progress = new Progress(sessions.length, "exporting");
  for (const session of sessions) {
    if (layout === "activity" && session.kind === "agent") {
      summary.skipped++;
      progress.tick();
      continue;
    }
    const [events, checkpoints] = await Promise.all([allEvents(client, session.id), client.sessions.listCheckpoints(session.id) as Promise<Checkpoint[]>]);
    if (layout === "sessions") {
      const folder = join(dir, "sessions", session.id);
      mkdirSync(folder, { recursive: true });
      writeJson(join(folder, "session.json"), toSeed004(session, events, checkpoints));
    } else {
      const files = toActivity(session, events, checkpoints);
      const folder = join(dir, "data", "activity", files.day, `session_${session.id}`);
      mkdirSync(folder, { recursive: true });
      writeJson(join(folder, "meta.json"), files.meta);
      files.execs.forEach((exec, i) => writeJson(join(folder, execFileName(i, files.execs.length)), exec));
    }
    summary.exported++;
    progress.tick();
  }
  progress.end();
  return summary;
}
