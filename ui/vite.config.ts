import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The dashboard's build (scripts/build-ui.mjs runs it; `npm run build` writes dist/ui). Served at
 * /ui by the server (src/server/routes/ui.ts), so every URL is under /ui/. Vite 8 compiles TSX
 * with oxc: the JSX runtime is Preact's.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // Chromium, Firefox and Safari all preload modules: no polyfill in the entry.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
