import { LRUCache } from "lru-cache";
import type { Principal } from "./principal.js";

/** How long entries live and how many are held, per owner and in all. */
export interface OwnedSecretsOptions {
  /** How long an entry lives after it is added. */
  readonly ttlMs: number;
  /** Entries one owner holds at once. */
  readonly maxPerOwner: number;
  /** Entries held at once over all owners; past it new ones are refused, never another's dropped. */
  readonly maxTotal: number;
  /**
   * What adding to an owner that holds `maxPerOwner` does: `refuse` the new entry, or
   * `forget-oldest` of that owner's own entries to make room.
   */
  readonly whenOwnerFull: "refuse" | "forget-oldest";
  readonly clock: () => number;
}

/** Why an entry was not added, and when trying again may succeed. */
export interface AddRefusal {
  /** `owner`: the owner holds `maxPerOwner`; `total`: every owner together hold `maxTotal`. */
  readonly limit: "owner" | "total";
  /** The limit reached. */
  readonly max: number;
  /** Until the owner's oldest entry expires (`owner` only). */
  readonly retryInMs?: number;
}

/** An entry and the principal it belongs to. */
export interface OwnedEntry<V> {
  readonly owner: Principal;
  readonly value: V;
}

/**
 * Secrets the server issued (held by their digests), each belonging to the principal that asked
 * for it, living `ttlMs`. The bounds hold per owner, so that one principal making many cannot
 * push out anyone else's: past `maxPerOwner` it is refused or loses its own oldest; past
 * `maxTotal` (all owners together) new entries are refused. Nothing is ever evicted to make room
 * for another owner's entry.
 *
 * The TTL is lru-cache's (read from `clock` at every lookup); its own eviction is never reached,
 * since an entry is added only when there is room.
 *
 * @example
 * const codes = new OwnedSecrets<Principal>({ ttlMs: 60_000, maxPerOwner: 20, maxTotal: 1000, whenOwnerFull: "refuse", clock: Date.now });
 * const refusal = codes.add(principal, digest, principal); // undefined when added
 */
export class OwnedSecrets<V> {
  private readonly entries: LRUCache<string, OwnedEntry<V>>;
  /** Each owner's digests, oldest first (a Set keeps insertion order). */
  private readonly byOwner = new Map<Principal, Set<string>>();

  constructor(private readonly options: OwnedSecretsOptions) {
    this.entries = new LRUCache<string, OwnedEntry<V>>({
      max: options.maxTotal,
      ttl: options.ttlMs,
      // Expiry is read from the clock on every lookup, not from a cached reading.
      ttlResolution: 0,
      perf: { now: options.clock },
      // Every way out (deleted, taken, expired and purged) leaves the owner's count too.
      dispose: (entry, digest) => this.unlink(entry.owner, digest),
    });
  }

  /**
   * Adds an entry for `owner`, when the bounds allow.
   * @returns undefined when it was added, else why not
   */
  add(owner: Principal, digest: string, value: V): AddRefusal | undefined {
    const refusal = this.refusalFor(owner);
    if (refusal !== undefined) return refusal;
    const held = this.heldBy(owner);
    // Only reached with forget-oldest: the owner's own oldest go, nobody else's.
    for (const oldest of held) {
      if (held.size < this.options.maxPerOwner) break;
      this.entries.delete(oldest);
    }
    this.entries.set(digest, { owner, value });
    let set = this.byOwner.get(owner);
    if (set === undefined) this.byOwner.set(owner, (set = new Set()));
    set.add(digest);
    return undefined;
  }

  /**
   * Why {@link add} would refuse an entry of `owner` now; undefined when it would take it.
   * Nothing changes in between as long as the caller does not yield (all of this is synchronous).
   */
  refusalFor(owner: Principal): AddRefusal | undefined {
    const held = this.heldBy(owner);
    const { maxPerOwner, maxTotal } = this.options;
    if (held.size >= maxPerOwner) {
      if (this.options.whenOwnerFull === "refuse") {
        const oldest = held.values().next().value as string;
        return { limit: "owner", max: maxPerOwner, retryInMs: Math.max(0, this.entries.getRemainingTTL(oldest)) };
      }
      // Forgetting the owner's oldest makes the room.
      return undefined;
    }
    if (this.entries.size >= maxTotal) this.entries.purgeStale();
    if (this.entries.size >= maxTotal) return { limit: "total", max: maxTotal };
    return undefined;
  }

  /** A live entry: its owner and value. */
  get(digest: string): OwnedEntry<V> | undefined {
    return this.entries.get(digest);
  }

  /** Removes an entry. */
  delete(digest: string): void {
    this.entries.delete(digest);
  }

  /** The owner's live digests, oldest first, after dropping those that expired. */
  private heldBy(owner: Principal): ReadonlySet<string> {
    const held = this.byOwner.get(owner);
    if (held === undefined) return EMPTY;
    for (const digest of held) {
      // `get` removes an expired entry (and dispose unlinks it); one already gone is unlinked here.
      if (this.entries.get(digest) === undefined) this.unlink(owner, digest);
    }
    return this.byOwner.get(owner) ?? EMPTY;
  }

  private unlink(owner: Principal, digest: string): void {
    const held = this.byOwner.get(owner);
    if (held === undefined) return;
    held.delete(digest);
    if (held.size === 0) this.byOwner.delete(owner);
  }
}

const EMPTY: ReadonlySet<string> = new Set();
