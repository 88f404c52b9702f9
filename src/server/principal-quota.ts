import type { FastifyReply, FastifyRequest } from "fastify";
import { SessiondError } from "../core/index.js";
import { isLocal } from "./auth/index.js";

/** What a quota counts, for the refusal: `this token already has <max> <what> (<setting>); <advice>`. */
export interface QuotaWording {
  readonly what: string;
  readonly setting: string;
  readonly advice: string;
}

/**
 * A cap on what one principal holds at once, counted by token name while each request's response
 * (or connection) is open: streams (SSE or WebSocket, on `/feed`, `/sessions/{id}/stream` and
 * `/sessions/{id}/attach`: each holds a file descriptor, so one token opening thousands would lock
 * every other client out) and MCP exchanges (each may hold pages of answers). Requests on the Unix
 * socket are not counted: that is the operator, whose access is the socket's file mode, and who
 * must always get in. With auth off, every TCP client is the one local principal and shares one cap.
 *
 * `claim` is the routes' first preHandler: a request past the cap is refused before the route
 * does any work (no session lookup, no participant joined) and before the hijack or upgrade.
 * The claim is given back once, when the response closes (a stream's client left or was ended,
 * or an answer was sent) or its connection does.
 *
 * @example
 * const quota = new PrincipalQuota(config.maxStreamsPerPrincipal, { what: "streams open", setting: "maxStreamsPerPrincipal", advice: "close one first" });
 * app.route({ …, preHandler: [quota.claim, plan] });
 */
export class PrincipalQuota {
  private readonly open = new Map<string, number>();

  /** @param max per principal; 0 means no cap */
  constructor(
    private readonly max: number,
    private readonly wording: QuotaWording,
  ) {}

  /** What `name` holds now. */
  count(name: string): number {
    return this.open.get(name) ?? 0;
  }

  /**
   * A preHandler: counts this request against its principal until it closes.
   * @throws rate_limited (429) naming the cap when the principal already holds `max`
   */
  readonly claim = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (this.max === 0 || isLocal(request.raw)) return;
    const name = request.principal.name;
    const held = this.count(name);
    if (held >= this.max) {
      const { what, setting, advice } = this.wording;
      throw new SessiondError("rate_limited", { reason: `this token already has ${this.max} ${what} (${setting}); ${advice}` });
    }
    this.open.set(name, held + 1);
    // Two signals, whichever comes first: the response closes when an SSE stream ends or an
    // answer is sent; an upgraded WebSocket never ends its response, its connection closes.
    const socket = request.raw.socket as typeof request.raw.socket | undefined;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      reply.raw.off("close", release);
      socket?.off("close", release);
      const left = this.count(name) - 1;
      if (left > 0) this.open.set(name, left);
      else this.open.delete(name);
    };
    reply.raw.once("close", release);
    socket?.once("close", release);
  };
}
