import { type Queryable, rows } from "./db.js";

/**
 * Fails, saying which schema and what to do, when the connection has no schema to put the
 * store's tables in: the first schema of its `search_path` does not exist, or the user may not
 * use it. PostgreSQL does not say so itself: `current_schema()` is null then, and every later
 * statement fails on that null in its own way (the node lock reads as taken by another node;
 * `CREATE TABLE` says "no schema has been selected to create in"). The store does not create the
 * schema: which schema, and who owns it, is the database administrator's choice.
 * @throws naming the schema, the user and the statement to run
 */
export async function assertSchemaUsable(db: Queryable): Promise<void> {
  const [found] = await rows<{ schema: string | null; search_path: string; username: string }>(
    db,
    "SELECT current_schema() AS schema, current_setting('search_path') AS search_path, current_user AS username",
  );
  if (!found || found.schema !== null) return;
  const user = found.username;
  const how = "the store's tables go in the connection's search_path schema (set on pgUrl, SESSIOND_PG_URL: ?options=-c%20search_path%3D<schema>)";
  const path = searchPathSchemas(found.search_path, user);
  if (path.length === 0) throw new Error(`the PostgreSQL connection's search_path is empty: ${how}`);
  const wanted = path.map((p) => p.name);
  const existing = new Set((await rows<{ name: string }>(db, "SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY($1)", [wanted])).map((r) => r.name));
  const unusable = wanted.filter((name) => existing.has(name));
  if (unusable.length > 0) {
    const first = unusable[0]!;
    throw new Error(
      `PostgreSQL user ${user} may not use schema ${first} (no USAGE privilege on it): grant it (GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(first)} TO ${quoteIdent(user)};) or name another schema; ${how}`,
    );
  }
  // `$user` stands for a schema per user, which few databases have: suggest the explicit one.
  const suggested = (path.find((p) => !p.fromUser) ?? path[0]!).name;
  const named = wanted.length === 1 ? `PostgreSQL schema ${suggested} does not exist` : `no schema on the PostgreSQL search_path (${wanted.join(", ")}) exists`;
  throw new Error(`${named}: create ${wanted.length === 1 ? "it" : "one"} (CREATE SCHEMA ${quoteIdent(suggested)};) or name an existing one; ${how}`);
}

/** The schema names of a `search_path` setting, unquoted, `$user` standing for the user. */
function searchPathSchemas(searchPath: string, user: string): { name: string; fromUser: boolean }[] {
  const names: { name: string; fromUser: boolean }[] = [];
  for (const match of searchPath.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/g)) {
    // PostgreSQL folds an unquoted name to lower case, as in SQL.
    const name = match[1] !== undefined ? match[1].replace(/""/g, '"') : match[2]!.toLowerCase();
    if (name === "") continue;
    names.push(name === "$user" ? { name: user, fromUser: true } : { name, fromUser: false });
  }
  return names;
}

/** An identifier as SQL text: quoted unless it is plain lower-case. */
function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
