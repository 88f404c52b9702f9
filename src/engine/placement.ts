/**
 * Where a session is served when several nodes share one PostgreSQL schema (DESIGN.md §7,
 * docs/scale-out.md). Each session has one owner node at a time; the node that holds it serves
 * it from memory, every other node forwards requests for it there.
 */

/** A node of the cluster, as another node needs to know it to forward a request. */
export interface OwnerNode {
  readonly id: string;
  /** The name it answers with (`x-sessiond-node`). */
  readonly name: string;
  /** Its base URL for forwarded requests (`http://host:port`); null when it takes none (an embedded process). */
  readonly url: string | null;
}

/** Where a session's requests go now. */
export type Placement =
  | { readonly here: true }
  /** Owned by another node whose lease is current: forward to it. */
  | { readonly here: false; readonly owner: OwnerNode };

/** What the server asks about sessions' owners; absent on a store with one node (SQLite). */
export interface SessionPlacement {
  /** This node's name, for the `x-sessiond-node` header of every answer. */
  readonly nodeName: string;
  /**
   * Where `sessionId` is served: here when this node holds it, or took it over just now (its
   * owner's lease had run out, or it had none); else its owner.
   */
  place(sessionId: string): Promise<Placement>;
  /**
   * Where `sessionId` is served, when memory knows without asking the store: here when this node
   * holds it now, the owner when another node's ownership was read lately; else undefined.
   */
  placeKnown(sessionId: string): Placement | undefined;
  /**
   * After a request forwarded to `owner` could not be delivered (the node does not answer): waits
   * until that owner's lease runs out, at most the lease time, then places the session again.
   * @returns the placement then; still `owner` when its lease was renewed meanwhile
   */
  placeAfterFailure(sessionId: string, owner: OwnerNode): Promise<Placement>;
  /** The other nodes whose lease runs now and that take requests (they have a URL): what a cluster-wide read asks. */
  peers(): Promise<Array<OwnerNode & { readonly url: string }>>;
}
