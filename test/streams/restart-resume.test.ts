import { execFileSync } from "node:child_process";
import { describe, expect, it, vi } from "vitest";
import { type LiveServer, SseClient, WsClient, listen, newHome, outputBytes, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 180_000 });

const { cleanups } = perTest();

const MiB = 1024 * 1024;
/** `seq -w 1 1250000`: 1,250,000 lines of 7 digits and a newline, 10,000,000 bytes. */
const COMMAND = "seq -w 1 1250000";
const EXPECTED = execFileSync("seq", ["-w", "1", "1250000"], { maxBuffer: 64 * MiB });

function track<T extends { close(): Promise<void> }>(c: T): T {
  cleanups.push(() => c.close());
  return c;
}

/** Bytes of one exec's stdout carried by output messages, checking they are contiguous from `from`. */
function contiguous(messages: any[], execId: string, from: number): Buffer {
  const parts: Buffer[] = [];
  let at = from;
  for (const m of messages) {
    if (m.type !== "output" || m.exec_id !== execId) continue;
    expect(m.stream).toBe("stdout");
    expect(m.offset, "a gap or an overlap in the offsets").toBe(at);
    const bytes = outputBytes(m);
    at += bytes.length;
    parts.push(bytes);
  }
  return Buffer.concat(parts);
}

describe("resuming exec output across a server restart", () => {
  it("returns the missing output of a 10 MB exec with zero lost or duplicated bytes", async () => {
    expect(EXPECTED.length).toBe(10_000_000);
    const { home, remove } = newHome();
    cleanups.push(remove);
    const flags = { enableSessions: true, maxExecOutputBytes: 16 * MiB, maxExecTimeoutMs: 600_000 };
    let s: LiveServer = await listen(home, flags);
    cleanups.push(() => s.stop());
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });

    // A client follows live, and goes away after 3 MB.
    const first = track(new WsClient(`${s.url}/sessions/${session.id}/stream`, s.token));
    await first.opened;
    await first.until((c) => c.messages.some((m) => m.type === "ready"));
    const exec = s.json("POST", `/sessions/${session.id}/exec`, { input: COMMAND, timeout_ms: 300_000 });
    const received = () => first.messages.filter((m) => m.type === "output").reduce((n, m) => n + outputBytes(m).length, 0);
    await first.until(() => received() >= 3 * MiB);
    first.socket.terminate();
    const { status, body: result } = await exec;
    expect(status).toBe(200);
    const execId = result.exec_id as string;
    const head = contiguous(first.messages, execId, 0);
    expect(head.length).toBeGreaterThanOrEqual(3 * MiB);
    expect(head.length).toBeLessThan(EXPECTED.length);

    // The server restarts on the same data dir.
    await s.stop();
    s = await listen(home, flags);

    // The client asks for "exec X from offset N" and gets exactly the rest.
    const second = track(new WsClient(`${s.url}/sessions/${session.id}/stream?exec_id=${execId}&offset=${head.length}`, s.token));
    await second.opened;
    await second.until((c) => c.messages.some((m) => m.type === "ready"));
    const tail = contiguous(second.messages, execId, head.length);
    const whole = Buffer.concat([head, tail]);
    expect(whole.length).toBe(EXPECTED.length);
    expect(whole.equals(EXPECTED), "the resumed output differs from the exec's output").toBe(true);

    // Past the end is refused, naming the valid range.
    const past = track(new WsClient(`${s.url}/sessions/${session.id}/stream?exec_id=${execId}&offset=${EXPECTED.length + 1}`, s.token));
    await expect(past.opened).rejects.toThrow();
    expect(past.unexpectedStatus).toBe(416);
    expect(past.unexpectedBody.error.message).toContain(`0–${EXPECTED.length}`);
  });

  it("resumes an SSE stream from its Last-Event-ID after a restart: the events and output after it, nothing twice", async () => {
    const { home, remove } = newHome();
    cleanups.push(remove);
    let s: LiveServer = await listen(home, { enableSessions: true });
    cleanups.push(() => s.stop());
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const c = track(new SseClient(`${s.url}/sessions/${session.id}/stream?after_seq=0&after_pos=0`, s.token));
    await c.until((evs) => evs.some((e) => e.event === "ready"));
    const { body: one } = await s.json("POST", `/sessions/${session.id}/exec`, { input: "echo one" });
    await c.until((evs) => evs.some((e) => e.event === "event" && e.data.event_type === "exec"));
    const lastId = c.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    await c.close();
    const { body: two } = await s.json("POST", `/sessions/${session.id}/exec`, { input: "echo two" });
    await s.stop();
    s = await listen(home, { enableSessions: true });

    const again = track(new SseClient(`${s.url}/sessions/${session.id}/stream`, s.token, { "last-event-id": lastId }));
    await again.until((evs) => evs.some((e) => e.event === "ready"));
    const outputs = again.events.filter((e) => e.event === "output").map((e) => e.data);
    expect(outputs.every((m) => m.exec_id === two.exec_id)).toBe(true);
    expect(Buffer.concat(outputs.map(outputBytes)).toString()).toBe("two\n");
    const events = again.events.filter((e) => e.event === "event").map((e) => e.data);
    expect(events.some((e) => e.event_type === "exec" && e.data.exec_id === one.exec_id)).toBe(false);
    expect(events.some((e) => e.event_type === "exec" && e.data.exec_id === two.exec_id)).toBe(true);
    // The restart's own events (crash of the orphaned shell) follow, each once.
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBe(Number(lastId.split(":")[0]) + 1);
  });
});
