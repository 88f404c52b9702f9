import { Counter, Gauge, type Registry } from "prom-client";
import type { ClusterOwnership } from "../../engine/index.js";

/** How a forwarded request ended, for `sessiond_forwarded_requests_total`. */
export type ForwardResult = "relayed" | "unreachable" | "failed";

/** Counts forwarded requests by how they ended; see registerClusterMetrics. */
export type ForwardCounter = (result: ForwardResult) => void;

/**
 * A node's cluster families (docs/scale-out.md): the sessions it holds, its lease renewals and
 * lapses, claims and sessions lost to other nodes, and the requests it forwarded to owners.
 * @returns the counter forwarding reports each forwarded request's end to
 */
export function registerClusterMetrics(registry: Registry, membership: Pick<ClusterOwnership, "counts" | "heldCount">): ForwardCounter {
  const registers = [registry];
  const counted = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        // Counters kept by the membership: the scrape reads them; prom-client adds to what it has.
        this.reset();
        this.inc(read());
      },
    });
  new Gauge({
    name: "sessiond_cluster_held_sessions",
    help: "Sessions this node owns",
    registers,
    collect() {
      this.set(membership.heldCount);
    },
  });
  counted("sessiond_cluster_lease_renewals_total", "Renewals of this node's lease", () => membership.counts.renewals);
  counted("sessiond_cluster_lease_renewal_failures_total", "Renewals of this node's lease that failed (database unreachable)", () => membership.counts.renewalFailures);
  counted("sessiond_cluster_lease_lapses_total", "Times this node found its lease had run out (it stalled, or renewals failed)", () => membership.counts.lapses);
  counted("sessiond_cluster_claims_total", "Claims of sessions by this node (each first request for a session it did not hold)", () => membership.counts.claims);
  counted("sessiond_cluster_sessions_lost_total", "Sessions another node took over from this one", () => membership.counts.lost);
  const forwarded = new Counter({
    name: "sessiond_forwarded_requests_total",
    help: "Requests this node forwarded to the session's owner node, by how they ended",
    labelNames: ["result"],
    registers,
  });
  return (result) => forwarded.inc({ result });
}
