/** Authentication and authorization: tokens, roles, agent scoping, the trusted Unix socket. */
export { ensureAdminToken, type AdminToken } from "./admin-token.js";
export { SUBPROTOCOL_BEARER_PREFIX, WEBSOCKET_SUBPROTOCOL, chooseSubprotocol, failedAuthentication, installAuth, type AuthOptions } from "./auth-hook.js";
export { assertMayReadExecIo, mayReadExecIo, seesSavedEnv } from "./disclosure.js";
export { AuthFailureLimiter, type AuthFailureLimiterOptions } from "./failure-limiter.js";
export { isLocal, markLocal } from "./local-socket.js";
export { assertAuthAllowed, isLoopback } from "./loopback.js";
export { principalParticipants } from "./participation.js";
export { relayedAuthorization } from "./relay.js";
export { type OriginCheckOptions, installOriginCheck, isOwnOrigin } from "./request-origin.js";
export { LOCAL_ADMIN, type Principal, type Role, assertAdmin, assertMayChooseId, assertMayWriteRuntimeMetadata, assertOwnFields, canSee, lookupScope, ownerDefaults, scopedFilter, visibleTo } from "./principal.js";
export { type IssuedTokens, TokenRegistry, tokenDigest } from "./token-registry.js";
export { type LoginCode, type UiLoginOptions, type UiLoginRefusal, UiLogins, type UiSession, isRefusal } from "./ui-login.js";
export { MIN_TOKEN_DISTINCT_CHARACTERS, MIN_TOKEN_LENGTH, tokenWeakness } from "./token-strength.js";
