import type { Static } from "@sinclair/typebox";
import { type SessionFilter, errors } from "../../core/index.js";
import type { SessionFilterQuery } from "../schemas.js";

/**
 * A session filter from query parameters: `label=key:value` (repeatable) becomes the labels
 * map, `session_type` (seed 003) is an alias of `type`.
 */
export function filterFromQuery(query: Static<typeof SessionFilterQuery>): SessionFilter {
  const { label, session_type, ...rest } = query;
  const filter: SessionFilter = { ...rest };
  if (session_type !== undefined) {
    if (rest.type !== undefined && rest.type !== session_type) throw errors.validation("session_type", "differs from type; give one of them");
    filter.type = session_type;
  }
  if (label !== undefined) {
    const labels: Record<string, string> = {};
    for (const pair of Array.isArray(label) ? label : [label]) {
      const colon = pair.indexOf(":");
      labels[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
    filter.labels = labels;
  }
  return filter;
}
