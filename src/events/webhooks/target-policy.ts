import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from "node:dns";
import { BlockList, type LookupFunction, isIP } from "node:net";

/** Address ranges a webhook may not reach unless allowed, by what they are (for the message). */
const REFUSED_RANGES: ReadonlyArray<readonly [kind: string, ranges: readonly string[]]> = [
  // The cloud metadata services first: their addresses also fall in the link-local and private ranges.
  ["a cloud metadata address", ["169.254.169.254/32", "fd00:ec2::254/128"]],
  ["a loopback address", ["127.0.0.0/8", "::1/128"]],
  ["an unspecified address", ["0.0.0.0/8", "::/128"]],
  ["a link-local address", ["169.254.0.0/16", "fe80::/10"]],
  ["a private address", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
  // IPv4-compatible IPv6 (::a.b.c.d, deprecated), which some stacks still route as IPv4.
  ["an IPv4-compatible IPv6 address", ["::/96"]],
];

/** Names that are local or metadata endpoints whatever DNS says (refused unless listed themselves). */
const REFUSED_NAMES: ReadonlyArray<readonly [test: (host: string) => boolean, kind: string]> = [
  [(h) => h === "localhost" || h.endsWith(".localhost"), "a loopback name"],
  [(h) => h === "metadata.google.internal" || h === "metadata", "a cloud metadata name"],
];

const ALLOW_HINT = "list it in webhookAllowHosts to allow it";

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/;

/** What resolves host names; node's `dns.lookup` unless a test gives its own. */
export type Resolver = (hostname: string) => Promise<readonly LookupAddress[]>;

/** Thrown (to undici) when a host name resolves to an address the policy refuses. */
export class TargetRefusedError extends Error {
  readonly code = "ERR_WEBHOOK_TARGET_REFUSED";
  constructor(message: string) {
    super(message);
    this.name = "TargetRefusedError";
  }
}

/**
 * Which URLs webhooks may be sent to. A webhook is a request the server makes on a user's word,
 * so without this an API caller could make the server reach what only the server can reach: its
 * own loopback services, the private network, the cloud metadata endpoint (server-side request
 * forgery). Refused, unless config `webhookAllowHosts` lists the name, the address or a range
 * holding it: loopback, private, link-local, metadata and unspecified addresses (IPv4-mapped IPv6
 * forms included), names that are always local (`localhost`, `metadata.google.internal`), and URLs
 * carrying credentials.
 *
 * `check` runs on a URL (at registration, and before each attempt); `lookup` runs where the
 * connection is made, on the addresses DNS gave for that very connection, so a name that
 * resolves to a public address at registration and to a private one later (DNS rebinding) is
 * refused at the attempt.
 *
 * @example
 * const policy = new WebhookTargetPolicy(config.webhookAllowHosts);
 * policy.check("http://10.0.0.5/hook"); // "10.0.0.5 is a private address; …"
 * new Agent({ connect: { lookup: policy.lookup } });
 */
export class WebhookTargetPolicy {
  private readonly allowedNames = new Set<string>();
  private readonly allowedAddresses = new BlockList();
  private readonly refused: ReadonlyArray<readonly [string, BlockList]>;

  /**
   * @param allowHosts config `webhookAllowHosts`: host names, IP addresses and CIDR ranges
   * @throws Error naming the entry that is none of those
   */
  constructor(
    allowHosts: readonly string[],
    private readonly resolve: Resolver = (hostname) => new Promise((ok, fail) => dnsLookup(hostname, { all: true }, (err, addresses) => (err ? fail(err) : ok(addresses)))),
  ) {
    allowHosts.forEach((entry, i) => {
      const host = normalHost(entry);
      if (addRange(this.allowedAddresses, host)) return;
      if (!HOSTNAME.test(host)) throw new Error(`config webhookAllowHosts[${i}]: ${JSON.stringify(entry)} is not a host name, an IP address or a CIDR range`);
      this.allowedNames.add(host);
    });
    this.refused = REFUSED_RANGES.map(([kind, ranges]) => {
      const list = new BlockList();
      for (const range of ranges) addRange(list, range);
      return [kind, list] as const;
    });
  }

  /**
   * Why webhooks may not be sent to this URL, or undefined when they may: not an http(s) URL,
   * credentials in it, a refused name, or a literal address in a refused range. Names are checked
   * again, resolved, at each attempt (see `lookup`).
   */
  check(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "not a URL";
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "must be an http or https URL";
    if (parsed.username !== "" || parsed.password !== "") return "must not carry credentials (user:password@); sign deliveries with a secret instead";
    const host = normalHost(parsed.hostname);
    if (this.allowedNames.has(host)) return undefined;
    const kind = isIP(host) !== 0 ? this.refusedKind(host) : REFUSED_NAMES.find(([test]) => test(host))?.[1];
    return kind === undefined ? undefined : `${host} is ${kind}; ${ALLOW_HINT}`;
  }

  /**
   * A `lookup` for net/tls connect (undici's `connect` option): resolves like `dns.lookup`, then
   * fails the connection with a TargetRefusedError when any address the name resolves to is
   * refused — one refused address is enough, as the connection may pick any of them.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const host = normalHost(hostname);
    this.resolve(host).then(
      (addresses) => {
        if (!this.allowedNames.has(host)) {
          for (const { address } of addresses) {
            const kind = this.refusedKind(address);
            if (kind !== undefined) {
              callback(new TargetRefusedError(`${host} resolves to ${address}, ${kind}; ${ALLOW_HINT}`), "", 0);
              return;
            }
          }
        }
        const wanted = filterFamily(addresses, (options as LookupOneOptions).family);
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${host} has no address of the family asked for`), { code: "ENOTFOUND" }), "", 0);
          return;
        }
        if ((options as LookupAllOptions).all) (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };

  /** What kind of refused address this is ("a loopback address"), or undefined when it may be reached. */
  private refusedKind(address: string): string | undefined {
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (this.allowedAddresses.check(address, family)) return undefined;
    return this.refused.find(([, list]) => list.check(address, family))?.[0];
  }
}

/** A host as compared: lower case, without IPv6 brackets or a trailing dot. */
function normalHost(host: string): string {
  return host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

/** Adds an address or CIDR range to the list; false when `entry` is neither. */
function addRange(list: BlockList, entry: string): boolean {
  const slash = entry.indexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return false;
  const family = version === 6 ? "ipv6" : "ipv4";
  if (slash === -1) {
    list.addAddress(address, family);
    return true;
  }
  const prefix = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 6 ? 128 : 32)) return false;
  list.addSubnet(address, Number(prefix), family);
  return true;
}

function filterFamily(addresses: readonly LookupAddress[], family: number | string | undefined): LookupAddress[] {
  const wanted = family === 4 || family === "IPv4" ? 4 : family === 6 || family === "IPv6" ? 6 : 0;
  return wanted === 0 ? [...addresses] : addresses.filter((a) => a.family === wanted);
}
