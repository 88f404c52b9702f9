import { Counter, Gauge, type Registry } from "prom-client";

/**
 * A counter on `registry` (or on none, when no registry is given). A metric of the same name
 * already there is replaced: sinks restarted in one process (as tests do) must not collide, and
 * the newest sinks are the live ones.
 */
export function counter<L extends string>(
  registry: Registry | undefined,
  config: { name: string; help: string; labelNames?: readonly L[] },
): Counter<L> {
  registry?.removeSingleMetric(config.name);
  return new Counter<L>({ ...config, registers: registry ? [registry] : [] });
}

/** A gauge read at scrape time from `read`, on `registry`; nothing when no registry is given. */
export function gauge(registry: Registry | undefined, config: { name: string; help: string }, read: () => number): void {
  if (!registry) return;
  registry.removeSingleMetric(config.name);
  new Gauge({
    ...config,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
