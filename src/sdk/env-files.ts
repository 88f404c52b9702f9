import { closeSync, existsSync, fstatSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseEnv } from "node:util";
import { DEFAULT_HOME_DIR, ENV_ALIAS_NAMES } from "../core/defaults.js";
import { errors } from "../core/errors.js";

/**
 * sessiond's `.env` files (README "Configuration"): the working directory's and the data dir's.
 * Dependency-free besides Node, so the CLI's client path reads them without loading the config
 * schema.
 */

/** The name of the file, in the working directory and in the data dir. */
export const ENV_FILE = ".env";

/** Where to look, and the environment that wins over both files. */
export interface EnvFileSources {
  /** The environment: a variable set here (even to "") is never taken from a file. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The working directory, whose `.env` is read; omitted, only the data dir's is (the embedded API). */
  readonly cwd?: string;
  /** The data dir from a flag (`--home`), over `SESSIOND_HOME` from the environment or the working directory's `.env`. */
  readonly home?: string;
}

/** What the `.env` files gave. */
export interface EnvFiles {
  /** The settings taken from the files (names the environment does not set), working directory's over data dir's. */
  readonly values: Readonly<Record<string, string>>;
  /** The files that were read, most specific first. */
  readonly files: readonly string[];
  /** One line each, naming the file and line: a malformed line, an ignored setting, a readable secret. */
  readonly warnings: readonly string[];
}

/**
 * Reads the working directory's `.env`, then the data dir's (`$SESSIOND_HOME/.env`, the data dir
 * found with the working directory's `SESSIOND_HOME` when the environment and the flag give none).
 * Precedence: environment > working directory's `.env` > data dir's `.env` (the more specific file
 * wins, as a project's `.npmrc` does over the user's). Only sessiond's names are taken
 * (`SESSIOND_*`, `ENABLE_SESSIONS`, `OPENAI_API_KEY`): the rest of a project's `.env` is the
 * project's. A missing file is no file; a malformed line is a warning, never an error.
 *
 * @example
 * const { values, warnings } = readEnvFiles({ env: process.env, cwd: process.cwd() });
 * @throws validation naming the file when another user owns it or group or others may write it:
 *   whoever can write it chooses `shellPath`, where secrets go, and which server the CLI trusts
 */
export function readEnvFiles(sources: EnvFileSources): EnvFiles {
  const warnings: string[] = [];
  const files: string[] = [];
  let cwdFile = sources.cwd === undefined ? undefined : resolve(sources.cwd, ENV_FILE);
  // A folder inside the data dir is a session's workspace (or the server's own): sessions and
  // artifact uploads write files there, so its .env is theirs, not the operator's.
  const defaultHome = join(sources.env.HOME || homedir(), DEFAULT_HOME_DIR);
  const knownHome = sources.home ?? (sources.env.SESSIOND_HOME || defaultHome);
  if (sources.cwd !== undefined && isInside(resolve(sources.cwd), resolve(knownHome))) {
    if (cwdFile && existsSync(cwdFile)) warnings.push(`${cwdFile}: not read: the working directory is inside the data dir, where sessions write files`);
    cwdFile = undefined;
  }
  const fromCwd = cwdFile ? readEnvFile(cwdFile, warnings) : undefined;
  if (cwdFile && fromCwd) files.push(cwdFile);
  const home = sources.home ?? (sources.env.SESSIOND_HOME || fromCwd?.SESSIOND_HOME || defaultHome);
  const homeFile = resolve(home, ENV_FILE);
  const fromHome = homeFile === cwdFile ? undefined : readEnvFile(homeFile, warnings);
  if (fromHome) {
    files.push(homeFile);
    if (fromHome.SESSIOND_HOME !== undefined) {
      warnings.push(`${homeFile}: SESSIOND_HOME ignored: the data dir's own .env cannot move the data dir`);
      delete fromHome.SESSIOND_HOME;
    }
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...fromHome, ...fromCwd })) {
    if (sources.env[name] === undefined) values[name] = value;
  }
  return { values, files, warnings };
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/** Whether a variable is one sessiond reads. */
export function isSessiondEnvName(name: string): boolean {
  return name.startsWith("SESSIOND_") || (ENV_ALIAS_NAMES as readonly string[]).includes(name);
}

/** Names whose values are secrets: a file holding one should be private. */
const SECRET_NAME = /(API_KEY|TOKENS?|SECRET|PASSWORD|PASSPHRASE|_URL)$/;

const KEY_LINE = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;
const QUOTES = new Set(["'", '"', "`"]);

/** One file's sessiond settings, or undefined when there is no file. */
function readEnvFile(file: string, warnings: string[]): Record<string, string> | undefined {
  const read = readPrivate(file);
  if (read === undefined) return undefined;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(checkedLines(file, read.text, warnings)))) {
    if (isSessiondEnvName(name) && value !== undefined) values[name] = value;
  }
  const secrets = Object.keys(values).filter((name) => SECRET_NAME.test(name));
  if (read.mode & 0o044 && secrets.length > 0) {
    warnings.push(`${file}: holds ${secrets.join(", ")} and group or others may read it (run chmod 600 ${file})`);
  }
  return values;
}

/**
 * The file's text with every line that is not `KEY=VALUE`, a comment or blank emptied, each with a
 * warning naming its line. Node's parseEnv drops such a line without a word, and worse, reads a
 * line without `=` as the start of the next line's key ("oops\nA=1" sets "oops\nA"); checking
 * lines first gives the warning and keeps the next setting. A quoted value may span lines (as
 * parseEnv reads it: up to the next same quote), so those lines are not checked.
 */
function checkedLines(file: string, text: string, warnings: string[]): string {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = KEY_LINE.exec(line);
    if (!match) {
      warnings.push(`${file}:${i + 1}: not KEY=VALUE, ignored`);
      lines[i] = "";
      continue;
    }
    const value = match[2] as string;
    const quote = value[0];
    if (quote === undefined || !QUOTES.has(quote) || value.indexOf(quote, 1) !== -1) continue;
    const closing = lines.findIndex((l, j) => j > i && l.includes(quote));
    if (closing === -1) warnings.push(`${file}:${i + 1}: the ${quote} that opens ${match[1]}'s value is never closed; the value is read as written`);
    else i = closing;
  }
  return lines.join("\n");
}

/**
 * The file's text, read from the descriptor whose owner and mode were checked (a file swapped in
 * between the check and the read carries its writer's uid). No check of the folder is needed: a
 * file planted or replaced by someone else is theirs, and refused for that.
 */
function readPrivate(file: string): { text: string; mode: number } | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw errors.validation(file, `cannot read it: ${(err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw errors.validation(file, "it is not a regular file");
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
      throw errors.validation(file, `it belongs to uid ${stat.uid}, not this user (${uid}); sessiond reads only its user's own .env`);
    }
    if (stat.mode & 0o022) throw errors.validation(file, `group or others may write it (run chmod go-w ${file})`);
    return { text: readFileSync(fd, "utf8"), mode: stat.mode };
  } finally {
    closeSync(fd);
  }
}
