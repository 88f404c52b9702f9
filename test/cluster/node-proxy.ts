import { type Server, type Socket, connect, createServer } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { type Cluster, type ClusterNode, startCluster } from "./harness.js";

/**
 * A TCP proxy in front of one node, advertised as that node's URL (SESSIOND_ADVERTISE_URL), so
 * that the requests other nodes forward to it pass through here while the load balancer, the
 * database and the test still reach it directly. It can lose the next answer on its way back
 * (`swallowNextAnswer`), or cut the node off from the other nodes (`block` … `unblock`).
 */
export class NodeProxy {
  /** The node's port; set before the node starts (the proxy's URL goes into its environment). */
  targetPort = 0;
  /** Answers lost so far. */
  swallowed = 0;
  private armed = false;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number) {}

  /** `http://127.0.0.1:<port>`: what the node advertises. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NodeProxy> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const proxy = new NodeProxy(port);
    await proxy.unblock();
    return proxy;
  }

  /** The next answer the node sends through the proxy is dropped, with its connection: the request was applied, its answer never arrives. */
  swallowNextAnswer(): void {
    this.armed = true;
  }

  /** Other nodes can no longer connect to the node (refused), and their open connections to it are dropped. */
  async block(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /** Connections pass again. */
  async unblock(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", resolve);
    });
    this.server = server;
  }

  async close(): Promise<void> {
    await this.block();
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (chunk) => upstream.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    upstream.on("data", (chunk) => {
      if (!this.armed) {
        client.write(chunk);
        return;
      }
      this.armed = false;
      this.swallowed++;
      client.destroy();
      upstream.destroy();
    });
  }
}

/** Two nodes where n1 reaches n2 (the sessions' owner in these suites) only through a NodeProxy. */
export interface ProxiedPair {
  readonly cluster: Cluster;
  readonly proxy: NodeProxy;
  /** n2: other nodes reach it through the proxy. */
  readonly owner: ClusterNode;
  /** n1. */
  readonly other: ClusterNode;
  close(): Promise<void>;
}

/**
 * A suite's two proxied nodes: started before its tests, closed after them. Read its fields in
 * the tests (they exist once the suite started).
 */
export function proxiedPairPerSuite(): ProxiedPair {
  let pair: ProxiedPair | undefined;
  beforeAll(async () => {
    pair = await startProxiedPair();
  });
  afterAll(async () => {
    await pair?.close();
  });
  const started = (): ProxiedPair => {
    if (!pair) throw new Error("the proxied pair is not started: use it inside the suite's tests");
    return pair;
  };
  return {
    get cluster() {
      return started().cluster;
    },
    get proxy() {
      return started().proxy;
    },
    get owner() {
      return started().owner;
    },
    get other() {
      return started().other;
    },
    close: () => started().close(),
  };
}

/** Starts two nodes, no load balancer, n2 advertised at a proxy the test controls. */
export async function startProxiedPair(): Promise<ProxiedPair> {
  const proxy = await NodeProxy.start();
  const cluster = await startCluster({
    nodes: 2,
    loadBalancer: false,
    nodeEnv: (name, port): Record<string, string> => {
      if (name !== "n2") return {};
      proxy.targetPort = port;
      return { SESSIOND_ADVERTISE_URL: proxy.url };
    },
  }).catch(async (err: unknown) => {
    await proxy.close();
    throw err;
  });
  return {
    cluster,
    proxy,
    owner: cluster.node("n2"),
    other: cluster.node("n1"),
    async close() {
      await cluster.close();
      await proxy.close();
    },
  };
}
