/** Bundles `<src>/cli/main.ts` into `<dist>/cli/sessiond.cjs`; see bundle-cli.mjs. @returns the bundle's path */
export function bundleCli(trees: { src: string; dist: string }): Promise<string>;
