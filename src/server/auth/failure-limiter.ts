import { isIP } from "node:net";
import { LRUCache } from "lru-cache";

/** How many failed authentications an address may make, over what window, and how many addresses are tracked. */
export interface AuthFailureLimiterOptions {
  /** Failures per window before the address is refused; 0 turns the limiter off. */
  readonly maxFailures: number;
  /** The window, from an address's first failure. */
  readonly windowMs: number;
  /** Addresses remembered at once (least recently seen forgotten first). */
  readonly maxAddresses: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

interface Failures {
  count: number;
  /** When the window that began with the first failure ends. */
  readonly resetAt: number;
}

/**
 * Counts failed bearer-token attempts per client address, so that a token cannot be guessed by
 * trying many: past `maxFailures` in a window its failures are answered 429 until that window
 * ends (the auth hook still lets a valid token through). Only failures are counted (successful requests cost nothing here), which is
 * why this is not @fastify/rate-limit: its store counts every request a route sees and has no way
 * to count only those the auth hook refused.
 *
 * The counters live in an LRU of bounded size: an attacker spreading over many addresses evicts
 * the oldest counters instead of growing memory, and an address that keeps trying stays recent.
 * IPv6 clients are counted per /64, the block one host usually holds, so that rotating through
 * its addresses does not reset the count.
 *
 * @example
 * const limiter = new AuthFailureLimiter({ maxFailures: 20, windowMs: 60_000, maxAddresses: 10_000 });
 * if (limiter.refusedForMs(request.ip) !== undefined) … // 429
 * if (tokenWasBad) limiter.recordFailure(request.ip);
 */
export class AuthFailureLimiter {
  private readonly failures: LRUCache<string, Failures>;
  private readonly clock: () => number;

  constructor(private readonly options: AuthFailureLimiterOptions) {
    this.failures = new LRUCache({ max: options.maxAddresses });
    this.clock = options.clock ?? Date.now;
  }

  /** Whether the limiter counts anything (`maxFailures` > 0). */
  get enabled(): boolean {
    return this.options.maxFailures > 0;
  }

  /** How long the address is still refused, in ms; undefined when it is not refused. */
  refusedForMs(address: string | undefined): number | undefined {
    if (!this.enabled) return undefined;
    const key = clientKey(address);
    const entry = this.failures.get(key);
    if (!entry) return undefined;
    const left = entry.resetAt - this.clock();
    if (left <= 0) {
      this.failures.delete(key);
      return undefined;
    }
    return entry.count >= this.options.maxFailures ? left : undefined;
  }

  /**
   * Counts one failed attempt from the address.
   * @returns true when this failure reached the limit (its next failures are refused)
   */
  recordFailure(address: string | undefined): boolean {
    if (!this.enabled) return false;
    const key = clientKey(address);
    const now = this.clock();
    const entry = this.failures.get(key);
    if (!entry || entry.resetAt <= now) {
      this.failures.set(key, { count: 1, resetAt: now + this.options.windowMs });
      return this.options.maxFailures === 1;
    }
    entry.count += 1;
    return entry.count === this.options.maxFailures;
  }
}

/** The counter an address belongs to: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string | undefined): string {
  if (address === undefined || address === "") return "unknown";
  const plain = address.replace(/%.*$/, "").toLowerCase();
  if (isIP(plain) !== 6) return plain;
  // The URL parser writes an IPv6 address in one canonical form (RFC 5952), with any dotted
  // IPv4 tail as hex groups, which makes expanding it simple.
  const canonical = new URL(`http://[${plain}]/`).hostname.slice(1, -1);
  const groups = expandIpv6(canonical);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

function expandIpv6(canonical: string): number[] {
  const [head = "", tail] = canonical.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16));
}
