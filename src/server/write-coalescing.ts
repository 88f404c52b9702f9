import type { FastifyInstance } from "fastify";

/**
 * Writes the answers of the requests that arrive together (one read of the sockets by the event
 * loop) back to back, once all of them are handled, instead of one by one between them.
 *
 * Why: a client waiting on its socket is woken by our write. When the writes are spread out
 * (one per handler, with the next request's work between them) each one wakes the client
 * again; on a VM a cross-CPU wake-up costs tens of microseconds inside `writev`, more than the
 * request's own work. Written together, the first write wakes the client and the rest land
 * while it is awake. Profiled under 50 connections: `writev` went from ~40 µs to ~15 µs a
 * request, and GET /sessions/{id} from ~58% to ~90% of a hello-world's throughput.
 *
 * A batch opens with its first request and closes when the loop leaves the sockets
 * (setImmediate, the same turn): answers sent while it is open wait for the close. Answers sent
 * later, after asynchronous work (a group commit, a coalesced list read), go out at once: they
 * come out together already, and waiting would cost them a turn of the loop.
 */
export function installWriteCoalescing(app: FastifyInstance): void {
  let open = false;
  let held: Array<() => void> = [];
  const close = (): void => {
    open = false;
    const batch = held;
    held = [];
    for (const write of batch) write();
  };
  app.addHook("onRequest", (_request, _reply, done) => {
    if (!open) {
      open = true;
      setImmediate(close);
    }
    done();
  });
  app.addHook("onSend", (_request, _reply, payload, done) => {
    if (open) held.push(() => done(null, payload));
    else done(null, payload);
  });
}
