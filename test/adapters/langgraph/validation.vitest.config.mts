/**
 * The config the checkpointer validation package's own vitest (4) runs validation.spec.mts
 * with (langgraph-validation.test.ts starts it); a plain object, as the project's vitest 3
 * `defineConfig` is not that vitest's.
 */
export default {
  test: {
    root: new URL(".", import.meta.url).pathname,
    include: ["validation.spec.mts"],
    globals: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
};
