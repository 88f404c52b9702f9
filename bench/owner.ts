/**
 * One data dir, one owner: what it costs a process that does not own the data dir to use the
 * embedded API there. Its writes travel to the owner over the data dir's socket; its synchronous
 * reads go to the SQLite file. Each figure is measured beside the same call in a process that owns
 * its data dir, in the same run, call by call in turn (this process owns one data dir and is the
 * non-owner of another, owned by a child process), so machine noise hits both alike.
 *
 *   npx tsx bench/owner.ts [--quick] [--writes=N] [--reads=N]
 *
 * The calls are the embedded API's backends (src/sdk/embedded-owner.ts, src/sdk/owner-client.ts):
 * the public functions add the same shape conversion to both.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { claimHome } from "../src/store/index.js";
import { EmbeddedOwner } from "../src/sdk/embedded-owner.js";
import { OwnerClient } from "../src/sdk/owner-client.js";
import type { EmbeddedBackend } from "../src/sdk/embedded-backend.js";
import { type Figure, benchConfig, cleanupTemp, fmtMs, fmtRatio, log, printFigures, quantile, tempDir } from "./lib.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const quick = process.argv.includes("--quick");

function arg(name: string, fallback: number): number {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
}

const WRITES = arg("writes", quick ? 300 : 3000);
const READS = arg("reads", quick ? 3000 : 30_000);
/** What the store settles on by default: the figure is about the extra hop, not fsync. */
const SETTINGS = { sqliteSynchronous: "normal" } as const;

async function main(): Promise<void> {
  const ownedHome = tempDir("owned");
  const ownedConfig = benchConfig(ownedHome, SETTINGS);
  const claim = claimHome(ownedConfig, "embedded");
  if (!claim.owned) throw new Error("could not own a fresh data dir");
  const owner: EmbeddedBackend = new EmbeddedOwner(ownedConfig, claim.owned);

  const foreignHome = tempDir("foreign");
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./children/home-owner.ts", import.meta.url)), foreignHome], {
    cwd: ROOT,
    env: { ...process.env, SESSIOND_SQLITE_SYNCHRONOUS: "normal" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const ready = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.split(" ")[1]!));
    child.once("exit", (code) => reject(new Error(`the owner child exited (${code})`)));
  });
  const client: EmbeddedBackend = new OwnerClient(benchConfig(foreignHome, SETTINGS), undefined);

  try {
    const own = await owner.create({ task: "bench", mode: "owner" });
    const sessions: [EmbeddedBackend, string][] = [
      [owner, own.id],
      [client, ready],
    ];
    log(`writes: ${WRITES} each, taking turns`);
    const writes = [[], []] as [number[], number[]];
    for (let i = 0; i < WRITES + WRITES / 10; i++) {
      for (const [k, [backend, id]] of sessions.entries()) {
        const start = process.hrtime.bigint();
        await backend.appendEvent(id, "note", { i });
        if (i >= WRITES / 10) writes[k]!.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    log(`reads: ${READS} each, taking turns`);
    const reads = [[], []] as [number[], number[]];
    for (let i = 0; i < READS + READS / 10; i++) {
      for (const [k, [backend, id]] of sessions.entries()) {
        const start = process.hrtime.bigint();
        backend.findSync(id);
        if (i >= READS / 10) reads[k]!.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    const p50 = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);
    const [ownerWrite, clientWrite] = writes.map(p50) as [number, number];
    const [ownerRead, clientRead] = reads.map(p50) as [number, number];
    const figures: Figure[] = [
      {
        name: "seed 004 write (addEvent) from a process that does not own the data dir, p50",
        measured: fmtMs(clientWrite),
        peer: `${fmtMs(ownerWrite)} in the owner`,
        ratio: fmtRatio(clientWrite / ownerWrite),
        target: "≤ 3× the owner's",
        pass: clientWrite <= 3 * ownerWrite,
      },
      {
        name: "synchronous read (getSession) from a process that does not own the data dir, p50",
        measured: fmtMs(clientRead),
        peer: `${fmtMs(ownerRead)} in the owner`,
        ratio: fmtRatio(clientRead / ownerRead),
        target: "≤ 50 µs",
        pass: clientRead <= 0.05,
      },
    ];
    printFigures(figures);
  } finally {
    await client.close();
    await owner.close();
    child.stdin!.end();
    await new Promise((resolve) => child.once("exit", resolve));
    cleanupTemp();
  }
}

await main();
