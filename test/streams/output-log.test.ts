import { afterEach, describe, expect, it } from "vitest";
import { newSessionRecord } from "../../src/engine/records.js";
import { OutputLog } from "../../src/engine/index.js";
import type { StoredOutput, Store } from "../../src/store/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

const opened: { store: Store; remove: () => void }[] = [];
afterEach(async () => {
  for (const { store, remove } of opened.splice(0)) {
    await store.close();
    remove();
  }
});

async function setup(maxChunkBytes = 64 * 1024) {
  const { config, remove } = tempHome();
  const store = openSqliteStore(config);
  opened.push({ store, remove });
  const session = newSessionRecord({}, new Date().toISOString(), { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 });
  await store.commit([{ op: "put_session", session, insert: true, scalarsOnly: false }]);
  const log = new OutputLog({ store, maxChunkBytes });
  const published: StoredOutput[] = [];
  log.subscribe((pieces) => published.push(...pieces));
  return { store, log, published, id: session.id };
}

const chunk = (session_id: string, offset: number, text: string, exec_id = "x1", stream: "stdout" | "stderr" = "stdout") => ({
  session_id,
  exec_id,
  stream,
  offset,
  data: Buffer.from(text),
});

describe("OutputLog", () => {
  it("joins contiguous chunks of one exec's stream in a turn into one durable row, published with its position after the write", async () => {
    const { store, log, published, id } = await setup();
    log.append(chunk(id, 0, "ab"));
    log.append(chunk(id, 2, "cd"));
    log.append(chunk(id, 0, "E", "x1", "stderr"));
    expect(log.pendingFor(id)).toBe(true);
    expect(published).toEqual([]);
    await log.flush();
    expect(log.pendingFor(id)).toBe(false);
    expect(published.map((p) => [p.stream, p.offset, p.data.toString()])).toEqual([
      ["stdout", 0, "abcd"],
      ["stderr", 0, "E"],
    ]);
    const rows = await store.listOutput(id, 0, 10);
    expect(rows.map((r) => r.pos)).toEqual(published.map((p) => p.pos));
  });

  it("starts a new row past maxChunkBytes and for a non-contiguous offset, keeping every byte", async () => {
    const { store, log, id } = await setup(1024);
    const big = "y".repeat(700);
    log.append(chunk(id, 0, big));
    log.append(chunk(id, 700, big));
    log.append(chunk(id, 2000, "z"));
    await log.flush();
    const rows = await store.listOutput(id, 0, 10);
    expect(rows.map((r) => [r.offset, r.data.length])).toEqual([
      [0, 700],
      [700, 700],
      [2000, 1],
    ]);
  });

  it("copies what it is given, so a producer reusing its buffer cannot change kept output", async () => {
    const { store, log, id } = await setup();
    const buffer = Buffer.from("keep");
    log.append({ session_id: id, exec_id: "x1", stream: "stdout", offset: 0, data: buffer });
    buffer.write("oops");
    await log.flush();
    expect((await store.listOutput(id, 0, 10))[0]!.data.toString()).toBe("keep");
  });
});
