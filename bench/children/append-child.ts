/**
 * The engine-append workload of figure 1 alone, in its own process, for a CPU profile of the
 * append path (bench/profile.ts runs it compiled, under `node --cpu-prof`). Prints one JSON line.
 * Usage: node <compiled>/bench/children/append-child.js <full|normal> <events>
 */
import { engineAppends } from "../figures/appends.js";
import { cleanupTemp } from "../lib.js";

const synchronous = process.argv[2] === "normal" ? "normal" : "full";
const events = Number(process.argv[3] ?? 200_000);
try {
  console.log(JSON.stringify(await engineAppends(synchronous, 100, events)));
} finally {
  cleanupTemp();
}
