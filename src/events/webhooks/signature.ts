import { createHmac, timingSafeEqual } from "node:crypto";

/** Request headers of a webhook delivery (lower case, as Node hands them to a receiver). */
export const WEBHOOK_HEADERS = {
  /** The seed 004 event name. */
  event: "x-sessiond-event",
  /** The delivery's id: the same on every attempt, so a receiver can drop repeats. */
  delivery: "x-sessiond-delivery",
  /** 1 on the first attempt, 2 on the first retry… */
  attempt: "x-sessiond-attempt",
  /** Unix time in seconds when the attempt was signed. */
  timestamp: "x-sessiond-timestamp",
  /** `sha256=<hex>`, present when the registration has a secret. */
  signature: "x-sessiond-signature",
} as const;

/**
 * The signature of a delivery: HMAC-SHA256, keyed with the registration's secret, over
 * `${timestamp}.${body}` (the timestamp header's value, a dot, and the raw body), hex-encoded
 * with a `sha256=` prefix. Covering the timestamp lets a receiver refuse old replays.
 *
 * @example
 * signWebhook("s3cret", 1767225600, '{"event":"start",…}') // "sha256=5d1f…"
 */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** What a receiver checks a delivery with. */
export interface WebhookVerification {
  readonly secret: string;
  /** The `X-Sessiond-Timestamp` header. */
  readonly timestamp: string | undefined;
  /** The `X-Sessiond-Signature` header. */
  readonly signature: string | undefined;
  /** The raw request body, exactly as received. */
  readonly body: string;
  /** Refuse deliveries signed longer ago than this (replays); no age check when absent. */
  readonly toleranceMs?: number;
  /** @default Date.now() */
  readonly now?: number;
}

/** True when the signature is the secret's over this timestamp and body (compared in constant time). */
export function verifyWebhookSignature(v: WebhookVerification): boolean {
  if (!v.timestamp || !v.signature || !/^\d+$/.test(v.timestamp)) return false;
  if (v.toleranceMs !== undefined && Math.abs((v.now ?? Date.now()) - Number(v.timestamp) * 1000) > v.toleranceMs) return false;
  const expected = Buffer.from(signWebhook(v.secret, v.timestamp, v.body));
  const given = Buffer.from(v.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
