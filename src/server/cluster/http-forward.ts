import type { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errors } from "../../core/index.js";
import { DeferredBody } from "./deferred-body.js";
import { forwardedRequestHeaders, originForm, relayedResponseHeaders } from "./headers.js";
import { type ForwardOutcome, failedAttempt } from "./outcome.js";

/** What forwardHttp needs besides the request. */
export interface HttpForward {
  /** The owner's origin (`http://host:port`). */
  readonly origin: string;
  readonly nodeName: string;
  /** Sent instead of the client's Authorization (see forwardedRequestHeaders). */
  readonly authorization: string | undefined;
  /** Called with each relayed answer's body while it streams; returns the function to call once it ended. */
  readonly track: (body: Readable) => () => void;
}

const BODYLESS = new Set(["GET", "HEAD"]);

/**
 * Sends the request as it came (method, path and query, headers, the raw body bytes) to the
 * owner with @fastify/reply-from and, once the owner answers, relays its status, headers and body
 * as they stream (an SSE stream stays a stream). Call it before the body is parsed: `payload` is
 * the raw body, read only once the owner is connected (DeferredBody).
 * @returns answered once the owner answered; else whether the request may be tried again (ForwardOutcome)
 */
export function forwardHttp(request: FastifyRequest, reply: FastifyReply, payload: Readable, target: HttpForward): Promise<ForwardOutcome> {
  const method = request.method;
  const bodyless = BODYLESS.has(method) || !hasBody(request);
  const body = bodyless ? undefined : new DeferredBody(payload);
  // reply-from sends request.body when it is a stream (here, before parsing, there is none).
  request.body = body?.stream;
  return new Promise<ForwardOutcome>((resolve, reject) => {
    const failed = (err: unknown) => {
      request.body = undefined;
      // The client left (or stopped sending its body) first: nobody is waiting for an answer, and
      // the owner's failure to get the rest is the client's doing, not an error of this node's.
      // (Its connection, not the request stream: that one ends, destroyed, once its body is read.)
      if (request.raw.socket?.destroyed) return resolve({ answered: true });
      resolve(failedAttempt(method, err, body?.started ?? false));
    };
    try {
      reply.from(`${target.origin}${originForm(request.url)}`, {
        rewriteRequestHeaders: (_request, headers) => forwardedRequestHeaders(headers, { nodeName: target.nodeName, authorization: target.authorization, bodyless }),
        rewriteHeaders: (headers) => relayedResponseHeaders(headers),
        // Retries are the caller's: only it knows whether the request may be sent again, and where.
        retryDelay: () => null,
        onResponse: (_request, answer, res) => {
          request.body = undefined;
          const ended = target.track(res.stream);
          res.stream.once("close", ended);
          answer.send(res.stream);
          resolve({ answered: true });
        },
        onError: (_reply, { error }) => failed(error),
      });
    } catch (err) {
      // reply-from refuses, before sending anything, a path it takes for a traversal (`/..`);
      // originForm one that is no URL.
      request.body = undefined;
      reject(errors.validation("url", `cannot be forwarded to the session's owner: ${(err as Error).message}`));
    }
  });
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}
