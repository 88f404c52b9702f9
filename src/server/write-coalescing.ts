import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * Holds each answer until the event loop has handled every request of the current I/O batch,
 * then writes the held answers back to back.
 *
 * Why: a client waiting on its socket is woken by our write. When the writes are spread out
 * (one per handler, with the next request's work between them) each one wakes the client
 * again; on a VM a cross-CPU wake-up costs tens of microseconds inside `writev`, more than
 * the request's own work. Written together, the first write wakes the client and the rest
 * land while it is awake. Profiled under 50 connections: `writev` went from ~40 µs to ~15 µs
 * a request. The wait is one turn of the loop (setImmediate), so a lone request is not slowed.
 */
export function installWriteCoalescing(app: FastifyInstance): void {
  let held: Array<() => void> = [];
  const writeHeld = (): void => {
    const batch = held;
    held = [];
    for (const write of batch) write();
  };
  app.addHook("onSend", (_request, _reply: FastifyReply, payload, done) => {
    if (held.length === 0) setImmediate(writeHeld);
    held.push(() => done(null, payload));
  });
}
