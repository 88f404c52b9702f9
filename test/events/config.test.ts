import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/core/index.js";

describe("event sink configuration", () => {
  it("publishes on events:session, with Redis off, and no config webhooks, by default", () => {
    const config = resolveConfig({ env: { HOME: "/h" } });
    expect(config.redisUrl).toBeUndefined();
    expect(config).toMatchObject({ redisChannel: "events:session", webhooks: [], webhookMaxAttempts: 12, webhookMaxConcurrency: 8 });
  });

  it("takes the Redis URL from SESSIOND_REDIS_URL", () => {
    expect(resolveConfig({ env: { HOME: "/h", SESSIOND_REDIS_URL: "redis://r:6379" } }).redisUrl).toBe("redis://r:6379");
  });

  it("accepts webhooks from the config file with an event filter and a secret", () => {
    const webhooks = [{ url: "https://example.com/hook", events: ["start", "complete"], secret: "s3cret" }, { url: "http://127.0.0.1:3001/x" }];
    expect(resolveConfig({ env: { HOME: "/h" }, file: { webhooks } }).webhooks).toEqual(webhooks);
  });

  it("refuses a webhook with a non-http URL, an unknown event or an unknown key", () => {
    const refuse = (webhook: unknown) => expect(() => resolveConfig({ env: { HOME: "/h" }, file: { webhooks: [webhook] } })).toThrow(/webhooks/);
    refuse({ url: "ftp://example.com" });
    refuse({ url: "http://example.com", events: ["iteration"] });
    refuse({ url: "http://example.com", retries: 3 });
  });
});
