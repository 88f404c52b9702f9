import type { AddressInfo } from "node:net";
import { type ClientOptions, type SessiondClient, createClient } from "sessiond/client";
import type { TestServer } from "../../server/harness.js";

/** Makes a test server listen on a free loopback port, once. */
export async function listenOnLoopback(server: TestServer): Promise<string> {
  if (!server.app.server.listening) await server.app.listen({ host: "127.0.0.1", port: 0 });
  return `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
}

/** A client of a test server over a real loopback port, with the server's admin token. */
export async function connectClient(server: TestServer, options: Omit<ClientOptions, "baseUrl" | "token" | "home"> = {}): Promise<SessiondClient> {
  const baseUrl = await listenOnLoopback(server);
  return createClient({ ...options, baseUrl, token: server.token, home: server.home });
}
