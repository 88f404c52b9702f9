import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { CliClient } from "../client.js";
import { type ImportBody, fromActivity, fromSeed004 } from "./layouts.js";
import { Progress } from "./progress.js";

/** One session found on disk: where, and how to read it (reading may fail: the file is corrupt). */
interface Found {
  path: string;
  read: () => ImportBody;
}

/** What an import did. */
export interface ImportSummary {
  layout: "sessions" | "activity" | "both";
  found: number;
  imported: string[];
  /** Already there (same id): left as they are. */
  skipped: string[];
  failed: { path: string; reason: string }[];
}

/**
 * Finds the sessions under `dir`, in either layout (detected; both may be present):
 * seed 004's `…/sessions/<id>/session.json` (or `<dir>/<id>/session.json`) and seed 000's
 * `…/data/activity/YYYY-MM-DD/session_<id>/meta.json` (or `activity/…`, or the date folders
 * themselves).
 * @throws Error when `dir` holds neither layout
 */
export function scan(dir: string): { layout: ImportSummary["layout"]; found: Found[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  const sessionsRoot = [join(dir, "sessions"), dir].find((d) => subdirs(d).some((s) => existsSync(join(d, s, "session.json"))));
  const activityRoot = [join(dir, "data", "activity"), join(dir, "activity"), dir].find((d) => subdirs(d).some((s) => DAY.test(s)));
  const found: Found[] = [];
  if (sessionsRoot) {
    for (const name of subdirs(sessionsRoot)) {
      const path = join(sessionsRoot, name, "session.json");
      if (existsSync(path)) found.push({ path, read: () => fromSeed004(readJson(path)) });
    }
  }
  if (activityRoot) {
    for (const day of subdirs(activityRoot).filter((d) => DAY.test(d))) {
      for (const name of subdirs(join(activityRoot, day)).filter((d) => d.startsWith("session_"))) {
        const folder = join(activityRoot, day, name);
        found.push({ path: folder, read: () => readActivity(folder) });
      }
    }
  }
  if (!sessionsRoot && !activityRoot) {
    throw new Error(`${dir} holds neither sessions/<id>/session.json (seed 004) nor data/activity/YYYY-MM-DD/session_<id>/ (seed 000)`);
  }
  return { layout: sessionsRoot && activityRoot ? "both" : sessionsRoot ? "sessions" : "activity", found };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const EXEC_FILE = /^(\d+)-exec\.json$/;

function readActivity(folder: string): ImportBody {
  const metaPath = join(folder, "meta.json");
  if (!existsSync(metaPath)) throw new Error("meta.json is missing");
  const execs = readdirSync(folder)
    .map((f) => ({ f, m: EXEC_FILE.exec(f) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]));
  execs.forEach((x, i) => {
    if (Number(x.m![1]) !== i + 1) throw new Error(`exec files are not numbered 1, 2, 3…: ${x.f} is the ${i + 1}th`);
  });
  return fromActivity(
    readJson(metaPath),
    execs.map((x) => readJson(join(folder, x.f))),
  );
}

function readJson(path: string): unknown {
  const text = readFileSync(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path.split("/").pop()} is not valid JSON (${(err as Error).message})`);
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * Imports every session found under `dir`, one request each, in order. A file that cannot be
 * read or is refused by the server is listed with its reason and the rest goes on; a session
 * already there (same id) is left as it is, so importing twice changes nothing.
 */
export async function importDir(client: CliClient, dir: string): Promise<ImportSummary> {
  const { layout, found } = scan(dir);
  const summary: ImportSummary = { layout, found: found.length, imported: [], skipped: [], failed: [] };
  const progress = new Progress(found.length, "importing");
  for (const item of found) {
    try {
      const body = item.read();
      const result = await client.sessions.importSession(body);
      (result.imported ? summary.imported : summary.skipped).push(result.id);
    } catch (err) {
      summary.failed.push({ path: relative(dir, item.path) || item.path, reason: err instanceof Error ? err.message : String(err) });
    }
    progress.tick();
  }
  progress.end();
  return summary;
}
