import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

/** HTTP suites that also run on the PostgreSQL store: the API over the store (the rest is store-agnostic). */
const ON_POSTGRES = ["sessions", "lifecycle", "seed-003", "fuzz", "auth", "webhooks", "operations", "tenant-names", "storable-values", "refused-writes"].map(
  (name) => `test/server/${name}.test.ts`,
);

export default defineConfig({
  resolve: {
    // Tests import the package by its public names, resolved to the sources.
    alias: {
      "sessiond/client": fileURLToPath(new URL("./src/sdk/client/index.ts", import.meta.url)),
      sessiond: fileURLToPath(new URL("./src/index.ts", import.meta.url)),
    },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // One file more than there are cores: vitest's default (cores - 1) is one on a 2-core machine,
    // which leaves it half idle, as most suites wait on child processes, sockets and timers. On
    // this project's 2-core machine three at once took the whole suite from ~970 s to ~870 s.
    maxWorkers: Math.max(3, availableParallelism() + 1),
    // The sources compiled once for the suites' child processes (test/helpers/compiled-tree.ts).
    globalSetup: ["test/global-setup.ts"],
    // Every answer an in-process server sends is checked against its /openapi.json (test/contract/setup.ts).
    setupFiles: ["test/contract/setup.ts"],
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts", "ui/test/**/*.test.ts"], exclude: [...configDefaults.exclude, "test/cluster/**", "test/browser/**"] } },
      // The same suites with the test server on PostgreSQL (test/server/harness.ts reads the variable).
      { extends: true, test: { name: "postgres", include: ON_POSTGRES, env: { SESSIOND_TEST_STORE: "postgres" } } },
      // Three `sessiond serve` processes on PostgreSQL behind HAProxy (test/cluster/harness.ts), killed, stopped
      // and restarted: one file at a time, after the other projects, so their leases and timings are not
      // starved by the rest of the suite; each test starts and restarts real processes.
      {
        extends: true,
        test: { name: "cluster", include: ["test/cluster/**/*.test.ts"], poolOptions: { forks: { singleFork: true } }, sequence: { groupOrder: 1 }, testTimeout: 600_000, hookTimeout: 180_000 },
      },
      // The dashboard in Debian's Chromium (playwright-core) against a real server (test/browser/harness.ts): one
      // file at a time, after the cluster, as each drives a browser and a server that share the machine's cores.
      // Skipped, saying why, without /usr/bin/chromium, except under CI=true.
      {
        extends: true,
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // A page waits for what a server and a shell do (a shell starts in its sandbox): expect.poll waits up to this.
          expect: { poll: { timeout: 30_000, interval: 50 } },
        },
      },
    ],
  },
});
