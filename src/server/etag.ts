import type { FastifyReply, FastifyRequest } from "fastify";
import { type Session, errors } from "../core/index.js";

/** The weak ETag of a session: its version, which moves on every change. */
export function etagOf(session: Pick<Session, "version">): string {
  return `W/"${session.version}"`;
}

/** Sets the session's ETag on the reply. */
export function setEtag(reply: FastifyReply, session: Pick<Session, "version">): void {
  reply.header("etag", etagOf(session));
}

/** True when the request's If-None-Match names the session's current version (answer 304). */
export function notModified(request: FastifyRequest, session: Pick<Session, "version">): boolean {
  const header = request.headers["if-none-match"];
  if (typeof header !== "string") return false;
  if (header.trim() === "*") return true;
  return parseTags(header, "If-None-Match").includes(session.version);
}

/**
 * The version a write must find, from `If-Match` or else the body's `version`: the engine's
 * `expected_version`, so the check and the write are one atomic step. `If-Match: *` only asks
 * that the session exist; a list of tags is resolved against the session's current version.
 * @throws validation naming If-Match when the header is not a list of entity tags
 * @throws version_conflict (412) when no tag of a list matches
 */
export function expectedVersion(request: FastifyRequest, current: Session, bodyVersion?: number): number | undefined {
  const header = request.headers["if-match"];
  if (typeof header !== "string") return bodyVersion;
  if (header.trim() === "*") return undefined;
  const versions = parseTags(header, "If-Match");
  if (versions.length === 1) return versions[0];
  if (versions.includes(current.version)) return current.version;
  throw errors.versionConflict(current.name, versions[0]!, current.version);
}

const TAG = /^(?:W\/)?"([^"]*)"$|^(\d+)$/;

/** Versions named by an entity-tag list; tags that are not versions match nothing (-1). */
function parseTags(header: string, field: string): number[] {
  const versions: number[] = [];
  for (const part of header.split(",")) {
    const tag = part.trim();
    if (!tag) continue;
    const m = TAG.exec(tag);
    if (!m) throw errors.validation(field, 'expected entity tags such as W/"3"');
    const text = m[1] ?? m[2]!;
    versions.push(/^\d{1,15}$/.test(text) ? Number(text) : -1);
  }
  if (!versions.length) throw errors.validation(field, 'expected entity tags such as W/"3"');
  return versions;
}
