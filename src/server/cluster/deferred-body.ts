import { Readable } from "node:stream";

/**
 * A request body passed on to another node that reads its source only once the HTTP client asks
 * for it, which it does once connected. Until then the source is untouched, so a request whose
 * forward failed to connect can still be parsed and served here, or forwarded elsewhere. When
 * the client drops it (the forward failed) the source is left as it is, not destroyed with it:
 * the request's connection still carries the answer.
 */
export class DeferredBody {
  /** Whether any of the source was asked for: from then on the request may have reached the owner. */
  started = false;
  readonly stream: Readable;

  constructor(source: Readable) {
    const body = async function* (this: DeferredBody): AsyncGenerator<Buffer> {
      this.started = true;
      yield* source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    }.call(this);
    this.stream = Readable.from(body, { objectMode: false });
  }
}
