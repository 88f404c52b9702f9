/** The domain: types, the status machine, errors, ids, input schemas and configuration. Pure, no I/O. */
export * from "./config.js";
export * from "./defaults.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./ids.js";
export * from "./json.js";
export * from "./merge-patch.js";
export * from "./modes.js";
export * from "./participants.js";
export * from "./replay.js";
export * from "./schemas.js";
export * from "./session.js";
export * from "./session-ref.js";
export * from "./status.js";
export * from "./storable.js";
export * from "./workspace-name.js";
