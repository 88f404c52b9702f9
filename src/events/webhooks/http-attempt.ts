import { TaskCancelledError, TimeoutPolicy, TimeoutStrategy } from "cockatiel";
import { type Dispatcher, request } from "undici";

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
  /** Shutdown interrupted it: it neither succeeded nor failed, and is tried again after a restart. */
  | { readonly kind: "cancelled" };

/**
 * Sends webhook attempts: a POST through one undici dispatcher (so shutdown can close its
 * sockets), each bounded by a cockatiel timeout that aborts the request, connect to response.
 * A 2xx answer delivers; any other answer, a network error or the timeout fails the attempt.
 * Redirects are not followed: a receiver that moved must be registered again.
 */
export class HttpAttempts {
  private readonly timeout: TimeoutPolicy;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
  ) {
    this.timeout = new TimeoutPolicy(timeoutMs, { strategy: TimeoutStrategy.Aggressive });
  }

  /** @param shutdown aborts the attempt when the sender closes */
  async send(attempt: AttemptRequest, shutdown: AbortSignal): Promise<AttemptOutcome> {
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
      return { kind: "failed", statusCode: null, error: describe(err) };
    }
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
