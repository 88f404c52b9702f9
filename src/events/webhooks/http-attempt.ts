import { TaskCancelledError, TimeoutPolicy, TimeoutStrategy } from "cockatiel";
import { type Dispatcher, request } from "undici";
import { TargetRefusedError, type WebhookTargetPolicy } from "./target-policy.js";

/** One POST of a delivery. */
export interface AttemptRequest {
  readonly url: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** How an attempt ended; an attempt never throws, a failure is a value. */
export type AttemptOutcome =
  | { readonly kind: "delivered"; readonly statusCode: number }
  | { readonly kind: "failed"; readonly statusCode: number | null; readonly error: string }
  /** The target policy refused the URL or the address its name resolved to: no request was sent. */
  | { readonly kind: "refused"; readonly error: string }
  /** Shutdown interrupted it: it neither succeeded nor failed, and is tried again after a restart. */
  | { readonly kind: "cancelled" };

/**
 * Sends webhook attempts: a POST through one undici dispatcher (so shutdown can close its
 * sockets), each bounded by a cockatiel timeout that aborts the request, connect to response.
 * A 2xx answer delivers; any other answer, a network error or the timeout fails the attempt.
 * Redirects are not followed (undici's `request` follows none unless told to): a receiver that
 * moved must be registered again, and a redirect cannot lead past the target policy to an
 * address it refuses. The policy checks the URL before connecting; the dispatcher is expected to
 * run the policy's `lookup` on every connection it makes, for names.
 */
export class HttpAttempts {
  private readonly timeout: TimeoutPolicy;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly policy: WebhookTargetPolicy,
  ) {
    this.timeout = new TimeoutPolicy(timeoutMs, { strategy: TimeoutStrategy.Aggressive });
  }

  /** @param shutdown aborts the attempt when the sender closes */
  async send(attempt: AttemptRequest, shutdown: AbortSignal): Promise<AttemptOutcome> {
    const refusal = this.policy.check(attempt.url);
    if (refusal !== undefined) return { kind: "refused", error: `target refused: ${refusal}` };
    try {
      const statusCode = await this.timeout.execute(async ({ signal }) => {
        const response = await request(attempt.url, {
          method: "POST",
          headers: attempt.headers,
          body: attempt.body,
          dispatcher: this.dispatcher,
          signal,
        });
        // The answer's body is not used, but must be read for the socket to be reused.
        await response.body.dump();
        return response.statusCode;
      }, shutdown);
      if (statusCode >= 200 && statusCode < 300) return { kind: "delivered", statusCode };
      return { kind: "failed", statusCode, error: `the receiver answered HTTP ${statusCode}` };
    } catch (err) {
      if (shutdown.aborted) return { kind: "cancelled" };
      if (err instanceof TaskCancelledError) return { kind: "failed", statusCode: null, error: `no response within ${this.timeoutMs} ms` };
      const refused = [err, (err as Error | undefined)?.cause].find((e) => e instanceof TargetRefusedError);
      if (refused) return { kind: "refused", error: `target refused: ${(refused as Error).message}` };
      return { kind: "failed", statusCode: null, error: describe(err) };
    }
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
