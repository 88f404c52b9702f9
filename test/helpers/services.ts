import { connect } from "node:net";

/** The services this machine runs for tests (MACHINE.md), on loopback. */
export const SERVICES = {
  redis: { name: "Redis", host: "127.0.0.1", port: 6379, url: "redis://127.0.0.1:6379" },
  postgres: { name: "PostgreSQL", host: "127.0.0.1", port: 5432, url: "postgres://postgres@127.0.0.1:5432/test" },
} as const;

export type ServiceName = keyof typeof SERVICES;

/** Whether something accepts TCP connections on host:port within `timeoutMs`. */
export function isReachable(port: number, host = "127.0.0.1", timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Whether a suite that needs `name` should run. When the service is unreachable the suite is
 * skipped, saying why, except under CI (`CI=true`), where it runs and fails: CI must not pass by
 * skipping. Use at a test file's top level:
 *
 * @example
 * const redis = await serviceAvailable("redis");
 * describe.skipIf(!redis)("the Redis publisher", () => { … });
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const service = SERVICES[name];
  if (await isReachable(service.port, service.host)) return true;
  if (process.env.CI === "true") return true;
  console.warn(`skipping: ${service.name} is not reachable on ${service.host}:${service.port} (set CI=true to fail instead)`);
  return false;
}
