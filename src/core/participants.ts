/**
 * Who took part in a session (seed 002's `participants`: humans, AIs and personas). A session's
 * list starts with what its creation names — the `participants` given, its `agent_id` (an AI)
 * and its `user_id` (a human) — and grows when someone new attaches to it or writes to it
 * (docs/api.md#participants). Joining is idempotent: a participant already listed is not added
 * again, so a writer costs nothing after its first write.
 */

/** Seed 002's participant kinds. */
export const PARTICIPANT_KINDS = ["human", "ai", "persona"] as const;
export type ParticipantKind = (typeof PARTICIPANT_KINDS)[number];

/** One participant: a kind and an id unique within that kind. */
export interface Participant {
  readonly kind: ParticipantKind;
  /** A user id, an agent id, a persona's name or a token's name. */
  readonly id: string;
  /** When it first took part (ISO 8601). */
  readonly joined_at: string;
}

/** A participant as a caller names one; `joined_at` defaults to the moment it is added. */
export interface ParticipantInput {
  readonly kind: ParticipantKind;
  readonly id: string;
  readonly joined_at?: string;
}

/** The most participants a create or import may list. */
export const MAX_GIVEN_PARTICIPANTS = 256;

/**
 * The participants an owner's fields name: its agent (an AI) and its user (a human). Empty ids
 * name nobody (an empty agent_id is the same namespace as none).
 */
export function ownerParticipants(owner: { readonly agent_id?: string | null; readonly user_id?: string | null }): ParticipantInput[] {
  const found: ParticipantInput[] = [];
  if (owner.agent_id) found.push({ kind: "ai", id: owner.agent_id });
  if (owner.user_id) found.push({ kind: "human", id: owner.user_id });
  return found;
}

/** True when `list` already holds a participant of this kind and id. */
export function hasParticipant(list: readonly Participant[], who: Pick<Participant, "kind" | "id">): boolean {
  return list.some((p) => p.kind === who.kind && p.id === who.id);
}

/**
 * `list` with each of `joining` not yet in it appended, in order, stamped `now` unless it carries
 * its own `joined_at` (normalized to ISO 8601). Returns `list` itself (the same array) when nobody is new, so a caller can
 * tell a no-op by identity.
 */
export function joinParticipants(list: readonly Participant[], joining: readonly ParticipantInput[], now: string): readonly Participant[] {
  let out: Participant[] | undefined;
  for (const who of joining) {
    if (hasParticipant(out ?? list, who)) continue;
    out ??= [...list];
    out.push({ kind: who.kind, id: who.id, joined_at: who.joined_at === undefined ? now : new Date(who.joined_at).toISOString() });
  }
  return out ?? list;
}
