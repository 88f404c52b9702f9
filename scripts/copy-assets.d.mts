/** Copies the runtime's non-TypeScript files from `src` to `dist`; see copy-assets.mjs. */
export function copyAssets(paths: { src: string; dist: string }): void;
