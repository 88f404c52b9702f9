/** A node of a cluster sharing one PostgreSQL schema: requests for sessions owned elsewhere go to their owner (docs/scale-out.md). */
export { type ForwardCounter, type ForwardResult, registerClusterMetrics } from "./cluster-metrics.js";
export { type ForwardingOptions, installForwarding } from "./forwarding.js";
export { FORWARDED_BY_HEADER, NODE_HEADER, NODES_MISSING_HEADER } from "./headers.js";
export { type PeerParts, PeerReads } from "./peer-reads.js";
