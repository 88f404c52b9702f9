/** The HTTP server: build it with buildApp, listen with `sessiond serve`. */
export { type BuildAppOptions, REDACTED_PATHS, type SessiondServices, buildApp } from "./app.js";
export { type AdminToken, type Principal, type Role, TokenRegistry, assertAuthAllowed, ensureAdminToken, isLoopback } from "./auth/index.js";
export { ServerMetrics } from "./metrics.js";
export { registerClusterMetrics } from "./cluster/index.js";
export { RetentionJob } from "./retention.js";
export { createUnixSocketServer, listenOnSocket, removeStaleSocket } from "./unix-socket.js";
export { ARTIFACT_CATEGORIES, type ArtifactCategory, type ArtifactEntry, Workspaces } from "./workspaces/index.js";
