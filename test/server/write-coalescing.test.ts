import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { installWriteCoalescing } from "../../src/server/write-coalescing.js";

/** An app whose route and final onSend hook log, in order, when each request is handled and written. */
async function loggingApp(coalesce: boolean): Promise<{ app: ReturnType<typeof Fastify>; log: string[] }> {
  const app = Fastify();
  const log: string[] = [];
  if (coalesce) installWriteCoalescing(app);
  app.get("/:n", (request, reply) => {
    const { n } = request.params as { n: string };
    log.push(`handle ${n}`);
    reply.send({ n: Number(n) });
  });
  // Answers two turns of the loop later, long after its batch closed.
  app.get("/later/:n", (_request, reply) => {
    setImmediate(() =>
      setImmediate(() => {
        log.push("sending");
        reply.send({ later: true });
        log.push("sent");
      }),
    );
  });
  app.addHook("onSend", (request, _reply, payload, done) => {
    log.push(`write ${(request.params as { n: string }).n}`);
    done(null, payload);
  });
  await app.ready();
  return { app, log };
}

describe("write coalescing", () => {
  it("writes the answers of requests handled in one turn of the event loop after all of them are handled", async () => {
    const { app, log } = await loggingApp(true);
    const answers = await Promise.all([1, 2, 3].map((n) => app.inject({ method: "GET", url: `/${n}` })));
    expect(answers.map((a) => a.json())).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(log).toEqual(["handle 1", "handle 2", "handle 3", "write 1", "write 2", "write 3"]);
    await app.close();
  });

  it("without it, each answer is written as soon as it is handled (the order the test above changes)", async () => {
    const { app, log } = await loggingApp(false);
    await Promise.all([1, 2, 3].map((n) => app.inject({ method: "GET", url: `/${n}` })));
    expect(log).toEqual(["handle 1", "write 1", "handle 2", "write 2", "handle 3", "write 3"]);
    await app.close();
  });

  it("writes an answer sent after the batch closed (after asynchronous work) at once, not a turn later", async () => {
    const { app, log } = await loggingApp(true);
    const answer = await app.inject({ method: "GET", url: "/later/1" });
    expect(answer.json()).toEqual({ later: true });
    expect(log).toEqual(["sending", "write 1", "sent"]);
    await app.close();
  });

  it("answers a lone request, and errors too", async () => {
    const { app } = await loggingApp(true);
    expect((await app.inject({ method: "GET", url: "/7" })).json()).toEqual({ n: 7 });
    expect((await app.inject({ method: "POST", url: "/7" })).statusCode).toBe(404);
    await app.close();
  });
});
