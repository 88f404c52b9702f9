import { describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import { BoundedQueue } from "../../src/events/bounded-queue.js";
import {
  WEBHOOK_EVENTS,
  configRegistrations,
  isWebhookEvent,
  retryDelayMs,
  signWebhook,
  verifyWebhookSignature,
  wants,
  webhookPayload,
} from "../../src/events/index.js";

const session = {
  id: "0193-session",
  mode: "developer",
  status: "paused",
  task: "Implement X",
  user_id: "user123",
  channel_id: null,
} as unknown as Session;

describe("webhook payload", () => {
  it("is seed 004's shape: event, session summary, timestamp and the event's data", () => {
    const payload = webhookPayload(session, { seq: 4, ts: "2026-01-01T00:00:00.000Z", type: "pause", data: { reason: "lunch" } });
    expect(payload).toEqual({
      event: "pause",
      session: { id: "0193-session", mode: "developer", status: "paused", task: "Implement X", userId: "user123" },
      timestamp: "2026-01-01T00:00:00.000Z",
      data: { reason: "lunch" },
    });
  });

  it("leaves out data when the event has none, and reports a missing mode or task as empty", () => {
    const bare = { ...session, mode: null, task: null, user_id: null, channel_id: "c1" } as unknown as Session;
    expect(webhookPayload(bare, { seq: 1, ts: "t", type: "start", data: {} })).toEqual({
      event: "start",
      session: { id: "0193-session", mode: "", status: "paused", task: "", channelId: "c1" },
      timestamp: "t",
    });
  });

  it("covers exactly the six seed 004 events", () => {
    expect(WEBHOOK_EVENTS).toEqual(["start", "pause", "resume", "complete", "error", "timeout"]);
    expect(isWebhookEvent("complete")).toBe(true);
    expect(isWebhookEvent("iteration")).toBe(false);
  });
});

describe("webhook signature", () => {
  const body = '{"event":"start"}';

  it("is HMAC-SHA256 over timestamp, a dot and the body, hex with a sha256= prefix", async () => {
    const { createHmac } = await import("node:crypto");
    const expected = createHmac("sha256", "s3cret").update(`1767225600.${body}`).digest("hex");
    expect(signWebhook("s3cret", 1767225600, body)).toBe(`sha256=${expected}`);
  });

  it("verifies a good signature and refuses a wrong secret, a changed body, a changed timestamp or an old one", () => {
    const now = 1767225600_000;
    const signature = signWebhook("s3cret", "1767225600", body);
    const check = (fields: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
      verifyWebhookSignature({ secret: "s3cret", timestamp: "1767225600", signature, body, now, toleranceMs: 300_000, ...fields });
    expect(check({})).toBe(true);
    expect(check({ secret: "other" })).toBe(false);
    expect(check({ body: '{"event":"complete"}' })).toBe(false);
    expect(check({ timestamp: "1767225601" })).toBe(false);
    expect(check({ now: now + 301_000 })).toBe(false);
    expect(check({ signature: undefined })).toBe(false);
    expect(check({ signature: "sha256=00" })).toBe(false);
  });
});

describe("webhook registrations", () => {
  it("gives config webhooks stable ids from URL and filter, not secret", () => {
    const [a] = configRegistrations([{ url: "http://h/x", events: ["start", "complete"], secret: "one" }]);
    const [b] = configRegistrations([{ url: "http://h/x", events: ["complete", "start"], secret: "two" }]);
    const [c] = configRegistrations([{ url: "http://h/y" }]);
    expect(a!.id).toMatch(/^config-[0-9a-f]{16}$/);
    expect(b!.id).toBe(a!.id);
    expect(c!.id).not.toBe(a!.id);
    expect(c).toMatchObject({ events: [], secret: null, source: "config" });
  });

  it("delivers every event to an empty filter and only the listed ones otherwise", () => {
    expect(wants({ events: [] }, "timeout")).toBe(true);
    expect(wants({ events: ["complete"] }, "complete")).toBe(true);
    expect(wants({ events: ["complete"] }, "start")).toBe(false);
  });
});

describe("retry backoff", () => {
  it("grows exponentially with jitter and never exceeds the maximum", () => {
    const options = { baseMs: 100, maxMs: 5000 };
    const median = (attempt: number) => {
      const samples = Array.from({ length: 201 }, () => retryDelayMs(attempt, options)).sort((x, y) => x - y);
      return samples[100]!;
    };
    const spread = new Set(Array.from({ length: 20 }, () => retryDelayMs(3, options)));
    expect(spread.size).toBeGreaterThan(10);
    expect(median(4)).toBeGreaterThan(median(1) * 3);
    for (let attempt = 1; attempt <= 30; attempt++) {
      const delay = retryDelayMs(attempt, options);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(5000);
    }
  });
});

describe("BoundedQueue", () => {
  it("keeps the newest items in order and reports each drop of the oldest", () => {
    const q = new BoundedQueue<number>(3);
    expect([1, 2, 3].map((n) => q.push(n))).toEqual([false, false, false]);
    expect(q.push(4)).toBe(true);
    expect(q.take(2)).toEqual([2, 3]);
    q.push(5);
    q.push(6);
    expect(q.length).toBe(3);
    expect(q.take(10)).toEqual([4, 5, 6]);
    expect(q.length).toBe(0);
  });

  it("keeps nothing at capacity 0", () => {
    const q = new BoundedQueue<number>(0);
    expect(q.push(1)).toBe(true);
    expect(q.length).toBe(0);
  });
});
