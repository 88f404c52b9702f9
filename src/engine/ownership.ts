import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { LRUCache } from "lru-cache";
import { SessiondError, isSessiondError } from "../core/index.js";
import type { ClusterNodeRecord, ClusterStore, SessionOwnerRecord } from "../store/index.js";
import type { OwnerNode, Placement, SessionPlacement } from "./placement.js";

/** How this node takes part in a cluster. */
export interface ClusterOwnershipOptions {
  readonly cluster: ClusterStore;
  readonly name: string;
  /** Where other nodes forward requests for this node's sessions; null while it takes none. */
  readonly url: string | null;
  /** A digest of the tokens this node accepts (live nodes must agree). */
  readonly authFingerprint: string;
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  /** How many sessions it remembers holding, and the owners of how many of other nodes' (least recently used go first). */
  readonly rememberedOwners: number;
  /** Told when a renewal fails (the database is unreachable): the lease may run out. */
  readonly onRenewFailed?: (err: unknown) => void;
  /** A monotonic clock in ms. @default performance.now */
  readonly now?: () => number;
}

/**
 * A node's trust in its own lease ends this share of the TTL after the renewal was sent: the
 * database counts the TTL from when it ran the renewal, which is later, so the node stops
 * trusting its memory before any other node may take its sessions over, even if the two clocks
 * run at slightly different rates.
 */
const TRUSTED_SHARE_OF_TTL = 0.8;

/** A node whose lease ran out this many leases ago and that owns nothing is forgotten at the next start. */
const PRUNE_AFTER_LEASES = 10;

/** What memory knows of a session's ownership. */
interface Held {
  readonly epoch: number;
  /** False after this node's lease lapsed: the epoch must be confirmed before memory is trusted. */
  verified: boolean;
}

/**
 * This node's membership of a cluster of nodes sharing one PostgreSQL schema, and the sessions it
 * owns (DESIGN.md §7, docs/scale-out.md).
 *
 * The node holds a lease in the store, renewed every `leaseRenewMs`; while it runs by this node's
 * own monotonic clock (a conservative share of the TTL after each renewal), the sessions it
 * claimed are served from memory with no round trip. When the lease lapsed — the node stalled, or
 * the database was out of reach — nothing in memory is trusted until each session's epoch is
 * confirmed by a new claim: an unchanged epoch means no other node wrote to it meanwhile; a new
 * one means memory is stale, and listeners of `onLost` drop it.
 *
 * Correctness does not rest on any of this timing: every commit carries the epochs its writes
 * were built under, and the database refuses those of a session that changed owner (fencing).
 */
export class ClusterOwnership implements SessionPlacement {
  readonly nodeId = randomUUID();
  readonly nodeName: string;
  private readonly options: ClusterOwnershipOptions;
  private readonly now: () => number;
  /**
   * The sessions this node claimed, bounded like the hot pool: one that falls out is claimed again
   * when next asked for (a claim of a session it still owns keeps its epoch), so memory stays
   * bounded however many sessions the node has served.
   */
  private readonly held: LRUCache<string, Held>;
  /** Claims in flight, by session: concurrent requests for one session share one. */
  private readonly claiming = new Map<string, Promise<number>>();
  private readonly lostListeners = new Set<(sessionId: string) => void>();
  private readonly takeoverListeners = new Set<TakeoverListener>();
  /**
   * Other nodes' sessions and their owners, each until shortly before that owner's lease could run
   * out (at most one renewal period): a request for one is forwarded with no database round trip.
   */
  private readonly remote: LRUCache<string, { owner: OwnerNode; until: number }>;
  private url: string | null;
  /** Until when (monotonic ms) memory may trust the lease. */
  private trustedUntil = 0;
  private renewing: Promise<void> | undefined;
  /** Counts for /metrics (sessiond_cluster_…). */
  readonly counts = { renewals: 0, renewalFailures: 0, lapses: 0, claims: 0, lost: 0 };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: ClusterOwnershipOptions) {
    this.options = options;
    this.nodeName = options.name;
    this.url = options.url;
    this.now = options.now ?? (() => performance.now());
    this.remote = new LRUCache({ max: options.rememberedOwners });
    this.held = new LRUCache({ max: options.rememberedOwners });
  }

  /** Joins the cluster and starts renewing. @throws when a live node accepts another token set */
  async start(): Promise<void> {
    const sent = this.now();
    await this.options.cluster.join(this.record(), this.options.leaseTtlMs);
    // Every start leaves a row (a new id); a node long gone that owns nothing is only clutter.
    await this.options.cluster.pruneNodes(this.options.leaseTtlMs * PRUNE_AFTER_LEASES);
    this.trustedUntil = sent + this.options.leaseTtlMs * TRUSTED_SHARE_OF_TTL;
    this.schedule();
  }

  /** Sets where other nodes forward requests (known once the server listens); sent with the next renewal. */
  async advertise(url: string): Promise<void> {
    this.url = url;
    await this.renew();
  }

  /** Stops renewing and ends the lease now, so other nodes take this node's sessions over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.renewing?.catch(() => undefined);
    await this.options.cluster.leave(this.nodeId);
  }

  async peers(): Promise<Array<OwnerNode & { readonly url: string }>> {
    const nodes = await this.options.cluster.liveNodes();
    return nodes.flatMap((node) => (node.id !== this.nodeId && node.url !== null ? [{ id: node.id, name: node.name, url: node.url }] : []));
  }

  /** How many sessions this node holds (as memory knows them). */
  get heldCount(): number {
    return this.held.size;
  }

  /** The epoch this node holds `sessionId` at, when memory may be trusted for it now. */
  epochIfTrusted(sessionId: string): number | undefined {
    if (this.now() >= this.trustedUntil) return undefined;
    const held = this.held.get(sessionId);
    return held?.verified ? held.epoch : undefined;
  }

  /** The epoch this node last held `sessionId` at, trusted or not: what its writes are fenced by. */
  epochOf(sessionId: string): number | undefined {
    return this.held.get(sessionId)?.epoch;
  }

  /**
   * Claims `sessionId` for this node (a new session, one with no live owner, or one it holds).
   * @returns the epoch it holds it at
   * @throws owned_elsewhere (with `owner`) while another node's lease runs
   */
  acquire(sessionId: string): Promise<number> {
    let claim = this.claiming.get(sessionId);
    if (!claim) {
      claim = this.claim(sessionId).finally(() => this.claiming.delete(sessionId));
      this.claiming.set(sessionId, claim);
    }
    return claim;
  }

  /** The database refused a write of `sessionId` (fenced): another node holds it now. */
  fenced(sessionId: string): void {
    this.held.delete(sessionId);
    this.emitLost(sessionId);
  }

  /** The session was deleted: it has no owner. */
  forget(sessionId: string): void {
    this.held.delete(sessionId);
  }

  /** Calls `listener` with each session whose copy in memory is no longer current. @returns unsubscribe */
  onLost(listener: (sessionId: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  placeKnown(sessionId: string): Placement | undefined {
    if (this.epochIfTrusted(sessionId) !== undefined) return { here: true };
    const known = this.remote.get(sessionId);
    return known && known.until > this.now() ? { here: false, owner: known.owner } : undefined;
  }

  async place(sessionId: string): Promise<Placement> {
    const known = this.placeKnown(sessionId);
    if (known) return known;
    // Read before claiming: a claim locks the owner row (a WAL write), which a session owned by a
    // live node does not need.
    const current = await this.options.cluster.owner(sessionId);
    if (current && current.node.id !== this.nodeId && current.lease_ms_left > 0) return { here: false, owner: this.remember(sessionId, current) };
    try {
      await this.acquire(sessionId);
      return { here: true };
    } catch (err) {
      const owner = ownerOfError(err);
      if (owner) return { here: false, owner };
      throw err;
    }
  }

  /** Remembers a live other node as `sessionId`'s owner for as long as its lease surely runs. */
  private remember(sessionId: string, owner: SessionOwnerRecord): OwnerNode {
    const node = ownerNode(owner);
    const lasts = Math.min(owner.lease_ms_left * TRUSTED_SHARE_OF_TTL, this.options.leaseRenewMs);
    this.remote.set(sessionId, { owner: node, until: this.now() + lasts });
    return node;
  }

  async placeAfterFailure(sessionId: string, failed: OwnerNode): Promise<Placement> {
    this.remote.delete(sessionId);
    // Bounded: a lease renewed meanwhile keeps the session where it is (the caller says so).
    const deadline = this.now() + this.options.leaseTtlMs + this.options.leaseRenewMs;
    for (;;) {
      const owner = await this.options.cluster.owner(sessionId);
      if (!owner || owner.node.id !== failed.id || owner.lease_ms_left <= 0) return this.place(sessionId);
      const left = deadline - this.now();
      if (left <= 0) return { here: false, owner: ownerNode(owner) };
      await sleep(Math.min(owner.lease_ms_left + 1, left, this.options.leaseRenewMs));
    }
  }

  private async claim(sessionId: string): Promise<number> {
    // Twice at most: a renewal sent before this node stalled is stale when its answer arrives.
    for (let round = 0; round < 2 && this.now() >= this.trustedUntil; round++) await this.renew();
    const result = await this.options.cluster.claim(sessionId, this.nodeId);
    this.counts.claims++;
    if (!result.held) {
      if (result.owner.node.id === this.nodeId) {
        // Our own lease ran out by the database's clock although it was just renewed: the
        // database is slow or unreachable. Say so rather than forward to ourselves.
        throw new SessiondError("store_failure", { reason: "this node's lease could not be kept current" });
      }
      if (this.held.has(sessionId)) this.fenced(sessionId);
      this.remember(sessionId, result.owner);
      throw ownedElsewhere(sessionId, result.owner);
    }
    this.remote.delete(sessionId);
    const known = this.held.get(sessionId);
    if (known && known.epoch !== result.epoch) this.emitLost(sessionId);
    this.held.set(sessionId, { epoch: result.epoch, verified: true });
    if (result.from) {
      // Before anyone is served: whoever waits for this claim sees what the listeners made of it.
      const from = result.from.name;
      await Promise.all([...this.takeoverListeners].map((listener) => listener(sessionId, from).catch(() => undefined)));
    }
    return result.epoch;
  }

  /**
   * Calls `listener` each time this node takes a session over from another node whose lease ran
   * out, before the claim resolves (the session is held, so the listener may write to it: a live
   * session's process died with its node). @returns unsubscribe
   */
  onTakeover(listener: TakeoverListener): () => void {
    this.takeoverListeners.add(listener);
    return () => this.takeoverListeners.delete(listener);
  }

  /** Renews now, sharing a renewal already in flight. */
  private renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    // A node that left stays gone: its claims are refused (they need a current lease).
    if (this.stopped) return;
    const sent = this.now();
    const lapsedHere = sent >= this.trustedUntil;
    let lapsed: boolean;
    try {
      ({ lapsed } = await this.options.cluster.renew(this.record(), this.options.leaseTtlMs));
    } catch (err) {
      this.counts.renewalFailures++;
      throw err;
    }
    this.counts.renewals++;
    if (lapsed || lapsedHere) {
      this.counts.lapses++;
      // Another node may have taken any of our sessions meanwhile: confirm each before trusting it.
      for (const held of this.held.values()) held.verified = false;
    }
    this.trustedUntil = sent + this.options.leaseTtlMs * TRUSTED_SHARE_OF_TTL;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew()
        .catch((err: unknown) => this.options.onRenewFailed?.(err))
        .finally(() => this.schedule());
    }, this.options.leaseRenewMs);
    this.timer.unref();
  }

  private record(): ClusterNodeRecord {
    return { id: this.nodeId, name: this.nodeName, url: this.url, auth_fingerprint: this.options.authFingerprint };
  }

  private emitLost(sessionId: string): void {
    this.counts.lost++;
    for (const listener of this.lostListeners) listener(sessionId);
  }
}

/** Told of a session taken over from the node named `fromNode`; awaited before the claim resolves. */
export type TakeoverListener = (sessionId: string, fromNode: string) => Promise<void>;

/** The owner an `owned_elsewhere` error names. */
const OWNER = Symbol("owner");

function ownedElsewhere(sessionId: string, owner: SessionOwnerRecord): SessiondError {
  return Object.assign(new SessiondError("owned_elsewhere", { ref: sessionId, node: owner.node.name }), { [OWNER]: ownerNode(owner) });
}

/** The owner node an `owned_elsewhere` error carries, if `err` is one. */
export function ownerOfError(err: unknown): OwnerNode | undefined {
  if (!isSessiondError(err, "owned_elsewhere")) return undefined;
  return (err as unknown as Record<typeof OWNER, OwnerNode | undefined>)[OWNER];
}

function ownerNode(owner: SessionOwnerRecord): OwnerNode {
  return { id: owner.node.id, name: owner.node.name, url: owner.node.url };
}
