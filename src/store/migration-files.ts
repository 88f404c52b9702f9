import { readdirSync, readFileSync } from "node:fs";

/** One schema migration: an append-only SQL file named `NNNN_what.sql`. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const FILE_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** The migrations in a folder (each store ships its dialect's), in version order. */
export function readMigrations(folder: URL): Migration[] {
  return readdirSync(folder)
    .map((name) => ({ name, match: FILE_PATTERN.exec(name) }))
    .filter((f): f is { name: string; match: RegExpExecArray } => f.match !== null)
    .map(({ name, match }) => ({ version: Number(match[1]), name, sql: readFileSync(new URL(name, folder), "utf8") }))
    .sort((a, b) => a.version - b.version);
}
