/** Authentication and authorization: tokens, roles, agent scoping, the trusted Unix socket. */
export { ensureAdminToken, type AdminToken } from "./admin-token.js";
export { installAuth, type AuthOptions } from "./auth-hook.js";
export { assertMayReadExecIo, mayReadExecIo, seesSavedEnv } from "./disclosure.js";
export { AuthFailureLimiter, type AuthFailureLimiterOptions } from "./failure-limiter.js";
export { isLocal, markLocal } from "./local-socket.js";
export { assertAuthAllowed, isLoopback } from "./loopback.js";
export { principalParticipants } from "./participation.js";
export { LOCAL_ADMIN, type Principal, type Role, assertAdmin, assertMayChooseId, assertMayWriteRuntimeMetadata, assertOwnFields, canSee, lookupScope, ownerDefaults, scopedFilter, visibleTo } from "./principal.js";
export { TokenRegistry } from "./token-registry.js";
export { MIN_TOKEN_DISTINCT_CHARACTERS, MIN_TOKEN_LENGTH, tokenWeakness } from "./token-strength.js";
