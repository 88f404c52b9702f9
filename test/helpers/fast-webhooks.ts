import type { Config } from "../../src/core/index.js";

/**
 * Webhook settings for tests: short delays, so retries happen within a test; the receivers listen
 * on loopback, which webhooks may reach only when allowed. Suites add what they need on top.
 */
export const FAST_WEBHOOKS: Partial<Config> = {
  webhookAllowHosts: ["127.0.0.1"],
  webhookBackoffBaseMs: 10,
  webhookBackoffMaxMs: 40,
  webhookTimeoutMs: 2000,
  webhookFlushIntervalMs: 0,
};
