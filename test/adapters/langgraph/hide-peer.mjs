// Loaded with `node --import`: makes the packages named in SESSIOND_TEST_HIDDEN_PACKAGES (comma-separated)
// unresolvable, as in an install without them, so a test can import an adapter without its peer.
import { register } from "node:module";

register("./hide-peer-hooks.mjs", import.meta.url, { data: { hidden: (process.env.SESSIOND_TEST_HIDDEN_PACKAGES ?? "").split(",").filter(Boolean) } });
