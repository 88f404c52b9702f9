import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { SessiondError } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { Progress } from "./progress.js";

/** One file as POST /import/sessions takes it: its name, its JSON, its mtime. */
interface SentFile {
  name: string;
  content: unknown;
  mtime: string;
}

/** One session found on disk: its folder, its layout, and how to read its files (reading fails on bad JSON). */
interface Found {
  path: string;
  layout: "sessions" | "activity";
  read: () => SentFile[];
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
      if (existsSync(path)) found.push({ path: join(sessionsRoot, name), layout: "sessions", read: () => [readFile(path)] });
    }
  }
  if (activityRoot) {
    for (const day of subdirs(activityRoot).filter((d) => DAY.test(d))) {
      for (const name of subdirs(join(activityRoot, day)).filter((d) => d.startsWith("session_"))) {
        const folder = join(activityRoot, day, name);
        found.push({ path: folder, layout: "activity", read: () => readActivity(folder) });
      }
    }
  }
  if (!sessionsRoot && !activityRoot) {
    throw new Error(`${dir} holds neither sessions/<id>/session.json (seed 004) nor data/activity/YYYY-MM-DD/session_<id>/ (seed 000)`);
  }
  return { layout: sessionsRoot && activityRoot ? "both" : sessionsRoot ? "sessions" : "activity", found };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const EXEC_FILE = /^\d+-exec\.json$/;

/** A seed 000 session folder's meta.json and NN-exec.json files (the server checks their numbering). */
function readActivity(folder: string): SentFile[] {
  if (!existsSync(join(folder, "meta.json"))) throw new Error("meta.json is missing");
  const names = readdirSync(folder).filter((f) => f === "meta.json" || EXEC_FILE.test(f));
  return names.sort().map((name) => readFile(join(folder, name)));
}

/** A file as sent: its JSON parsed here (bad JSON is named here), its mtime for what it does not say itself. */
function readFile(path: string): SentFile {
  const name = path.split("/").pop()!;
  const text = readFileSync(path, "utf8");
  try {
    return { name, content: JSON.parse(text), mtime: statSync(path).mtime.toISOString() };
  } catch (err) {
    throw new Error(`${name} is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Why a session was refused, naming the file and the field: a validation error about
 * `files.N.content.<field>` as `<file> <field>: <reason>` (the server's reason often names them
 * already), any other error by its message.
 */
function reasonOf(err: unknown, files: readonly SentFile[] | undefined): string {
  if (!(err instanceof Error)) return String(err);
  const field = err instanceof SessiondError && err.code === "validation" ? err.field : undefined;
  const at = field ? /^files\.(\d+)(?:\.content)?(?:\.(.+))?$/.exec(field) : null;
  const file = at ? files?.[Number(at[1])] : undefined;
  if (!at || !file) return err.message;
  const prefix = `invalid ${field}: `;
  const reason = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  return reason.startsWith(`${file.name} `) || reason.startsWith(`${file.name}:`) ? reason : `${file.name}${at[2] ? ` ${at[2]}` : ""}: ${reason}`;
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
 * Imports every session found under `dir`, one request each, in order: its files as they are
 * (the server reads them, src/engine/import-files.ts). A session whose files cannot be read or
 * are refused is listed with its reason (naming the file and field) and the rest goes on; each
 * session is stored whole or not at all; a session already there (same id) is left as it is,
 * so importing twice changes nothing.
 */
export async function importDir(client: CliClient, dir: string): Promise<ImportSummary> {
  const { layout, found } = scan(dir);
  const summary: ImportSummary = { layout, found: found.length, imported: [], skipped: [], failed: [] };
  const progress = new Progress(found.length, "importing");
  for (const item of found) {
    let files: SentFile[] | undefined;
    try {
      files = item.read();
      const result = await client.sessions.importSession({ layout: item.layout, files });
      (result.imported ? summary.imported : summary.skipped).push(result.id);
    } catch (err) {
      summary.failed.push({ path: relative(dir, item.path) || item.path, reason: reasonOf(err, files) });
    }
    progress.tick();
  }
  progress.end();
  return summary;
}
