/**
 * Child of bench/owner.ts: owns a data dir through the embedded API (engine, store, and the
 * socket its non-owners write through), creates a session, prints `ready <session id>`, and holds
 * the data dir until its stdin closes.
 */
import { closeSessions, configureSessions, startSession } from "../../src/index.js";

configureSessions({ home: process.argv[2]! });
const session = await startSession("bench", "owner");
// The socket comes up in the background: a non-owner waits for it anyway, but the figure should not.
const { existsSync } = await import("node:fs");
while (!existsSync(`${process.argv[2]}/sessiond.sock`)) await new Promise((resolve) => setTimeout(resolve, 10));
process.stdout.write(`ready ${session.id}\n`);
process.stdin.resume();
process.stdin.once("end", () => void closeSessions().then(() => process.exit(0)));
