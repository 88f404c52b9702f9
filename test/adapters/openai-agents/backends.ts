import { type SessiondClient } from "sessiond/client";
import { SessionManager } from "../../../src/engine/index.js";
import { openSqliteStore } from "../../../src/store/index.js";
import { tempHome } from "../../helpers/temp-home.js";
import { connectClient } from "../../sdk/support/connect.js";
import { type TestServer, startServer } from "../../server/harness.js";

/**
 * One place a SessiondSession keeps its items, as a test uses it: `sessiond` is what the adapter
 * is given; `manager` is the engine behind it, for the test to look at the timeline directly.
 */
export interface Backend {
  readonly name: "embedded" | "remote";
  readonly sessiond: SessionManager | SessiondClient;
  readonly manager: SessionManager;
  close(): Promise<void>;
}

/** The embedded engine on a SQLite file in a fresh data dir. */
export async function embedded(flags: Record<string, unknown> = {}): Promise<Backend> {
  const home = tempHome({ logLevel: "silent", sqliteSynchronous: "normal", ...flags });
  const manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
  return {
    name: "embedded",
    sessiond: manager,
    manager,
    async close() {
      await manager.close();
      home.remove();
    },
  };
}

/** A real server (SQLite, or PostgreSQL under SESSIOND_TEST_STORE) on a loopback port, and a client of it with the admin token. */
export async function remote(flags: Record<string, unknown> = {}): Promise<Backend & { server: TestServer; client: SessiondClient }> {
  const server = await startServer(flags);
  const client = await connectClient(server);
  return {
    name: "remote",
    sessiond: client,
    manager: server.manager,
    server,
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

export const BACKENDS = { embedded, remote } as const;
