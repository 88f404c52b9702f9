import type { ClientFlags } from "../home.js";
export async function runRepl(_o: { ref?: string; kind: string; flags: ClientFlags }): Promise<void> {}
