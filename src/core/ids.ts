import { v7 as uuidv7 } from "uuid";
import { errors } from "./errors.js";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A new time-ordered id (UUID v7), for sessions, checkpoints and webhooks. */
export function newId(): string {
  return uuidv7();
}

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/**
 * Checks a caller-chosen id (imports keep their old ids, e.g. seed 004's `session_abc123_xyz`).
 * @throws validation naming `id`
 */
export function assertValidId(id: string): void {
  if (!ID_PATTERN.test(id)) throw errors.validation("id", "use 1-128 letters, digits, '.', '_', ':' or '-'");
}

/** True for a well-formed session name (see assertValidName). */
export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name) && !isUuid(name);
}

/**
 * Checks a session name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit,
 * and not shaped like a UUID, so that "id or name" lookups are never ambiguous.
 * @throws validation naming `name`
 */
export function assertValidName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw errors.validation("name", "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (isUuid(name)) throw errors.validation("name", "a name must not look like a UUID");
}

/**
 * A readable, unique-enough name in seed 002's style: `<role>-<yyyy-mm-dd>-<8 hex of the id>`,
 * e.g. `developer-2026-11-23-a8b9c1d2`. The role is the mode, else the type, else the kind.
 * A session created for a user is named after the user instead, as seed 002's session folders
 * are: `human-<user>-<yyyy-mm-dd>-<8 hex>` (`human-joel-2025-01-27-a8b9c1d2`), the user id cut
 * to the characters a name allows; a user id with none of them keeps the role form.
 */
export function generateName(id: string, role: string, createdAt: string, userId?: string | null): string {
  const tail = id.replace(/[^A-Za-z0-9]/g, "").slice(-8).toLowerCase();
  const user = userId ? slug(userId) : "";
  const head = user ? `human-${user}` : slug(role) || "session";
  return `${head}-${createdAt.slice(0, 10)}-${tail}`;
}

/**
 * Lower-case letters and digits, any other run made one '-', without a '-' at either end, at
 * most 32 characters: with the date, the tail and a collision suffix a generated name stays
 * within a name's 64 characters.
 */
function slug(text: string): string {
  const trim = (s: string) => s.replace(/^-+|-+$/g, "");
  return trim(trim(text.toLowerCase().replace(/[^a-z0-9]+/g, "-")).slice(0, 32));
}
