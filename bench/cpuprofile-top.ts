/**
 * Summarizes V8 .cpuprofile files (node --cpu-prof): self time aggregated by function and
 * source location, heaviest first.
 *   npx tsx bench/cpuprofile-top.ts <file.cpuprofile>... [--top=15]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Makes a location readable: the compiled tree and node_modules prefixes are cut. */
function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\/.*?\/sessiond-bench-compiled-[^/]+\//, "")
    .replace(/^file:\/\/\/work\/main\//, "")
    .replace(/^.*node_modules\//, "node_modules/");
}

/** The `top` functions of a profile by self time, as a printable table. */
export function summarize(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let total = 0;
  // A node's self time is the sum of the time deltas of the samples that landed on it.
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const key = `${functionName || "(anonymous)"}${url ? `  ${shortUrl(url)}:${lineNumber + 1}` : ""}`;
    const us = profile.timeDeltas[i] ?? 0;
    totals.set(key, (totals.get(key) ?? 0) + us);
    total += us;
  });
  const lines = [`${(total / 1e6).toFixed(2)} s sampled, ${profile.samples.length} samples`, " self ms   self %  function  location"];
  for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${(us / 1000).toFixed(0).padStart(8)}  ${((us / total) * 100).toFixed(1).padStart(6)}%  ${key}`);
  }
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const top = Number(args.find((a) => a.startsWith("--top="))?.slice(6) ?? 15);
  const files = args.filter((a) => !a.startsWith("--"));
  if (!files.length) throw new Error("usage: cpuprofile-top <file.cpuprofile>... [--top=15]");
  for (const file of files) console.log(`${file}:\n${summarize(file, top)}\n`);
}
