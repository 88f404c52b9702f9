import type { FastifyBaseLogger, FastifyRequest } from "fastify";
import { Agent, request as send } from "undici";
import type { SessionPlacement } from "../../engine/index.js";
import { relayedAuthorization } from "../auth/index.js";
import { FORWARDED_BY_HEADER } from "./headers.js";

/** What PeerReads needs. */
export interface PeerReadsOptions {
  readonly cluster: SessionPlacement;
  /** Sent for the local admin (the Unix socket, a server without auth), who carries no token; every node has the same one. */
  readonly adminToken: string;
  readonly connectTimeoutMs: number;
  /** How long a peer may take to answer in full; one that takes longer is left out of the answer. */
  readonly answerTimeoutMs: number;
  readonly log: FastifyBaseLogger;
}

/** The parts of a read the other nodes answered, and the nodes that did not. */
export interface PeerParts<T> {
  readonly parts: T[];
  /** Names of the live nodes that did not answer in time, or refused. */
  readonly missing: string[];
}

/**
 * Reads that only each node can answer for itself — what runs in its memory, such as its live
 * processes — gathered from every other live node of the cluster (docs/scale-out.md): the same
 * path asked of each, as the principal who asked here (its own Authorization goes along, so each
 * node shows it only what it may see), marked as forwarded so no node asks further. A node that
 * does not answer in time is left out and named, never waited on past `answerTimeoutMs`.
 */
export class PeerReads {
  private readonly options: PeerReadsOptions;
  private readonly agent: Agent;

  constructor(options: PeerReadsOptions) {
    this.options = options;
    this.agent = new Agent({ connectTimeout: options.connectTimeoutMs, headersTimeout: options.answerTimeoutMs, bodyTimeout: options.answerTimeoutMs });
  }

  /**
   * Each live peer's JSON answer to GET `path`, unless `request` came from another node already.
   */
  async gather<T>(request: FastifyRequest, path: string): Promise<PeerParts<T>> {
    if (request.headers[FORWARDED_BY_HEADER] !== undefined) return { parts: [], missing: [] };
    const authorization = relayedAuthorization(request, this.options.adminToken);
    const headers: Record<string, string> = { [FORWARDED_BY_HEADER]: this.options.cluster.nodeName, accept: "application/json" };
    if (authorization !== undefined) headers.authorization = authorization;
    const peers = await this.options.cluster.peers();
    const answers = await Promise.all(
      peers.map(async (peer): Promise<{ part: T } | { missing: string }> => {
        try {
          const res = await send(new URL(path, peer.url), { method: "GET", headers, dispatcher: this.agent, signal: AbortSignal.timeout(this.options.answerTimeoutMs) });
          if (res.statusCode !== 200) {
            await res.body.dump();
            throw new Error(`it answered ${res.statusCode}`);
          }
          return { part: (await res.body.json()) as T };
        } catch (err) {
          this.options.log.warn({ err, node: peer.name, path }, "a node left out of a cluster-wide read");
          return { missing: peer.name };
        }
      }),
    );
    return {
      parts: answers.flatMap((a) => ("part" in a ? [a.part] : [])),
      missing: answers.flatMap((a) => ("missing" in a ? [a.missing] : [])),
    };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
