// The request loop the Node helpers of live sessions share (typescript, llm): one JSON request
// per line on fd 3, one JSON reply per line on fd 4, so nothing a cell prints on stdout or stderr
// can be taken for the protocol. Requests run one at a time, in order:
//
//   {"id", "op": "exec", ...}  → what is left in fds 1 and 2 from between cells is dropped;
//                                run(request); once all it printed is written to fds 1 and 2,
//                                the reply {"id", "cwd", ...outcome}
//   {"id", "op": "state"}      → {"id", "ok", "cwd", "env"}
//
// sessiond reads fds 1 and 2 (FIFOs) when a reply comes: what the cell printed must be in them by
// then, not in a queue of ours. So they are made blocking, and each write through process.stdout
// or process.stderr is over when it returns. libuv makes a pipe non-blocking and queues in memory
// what the pipe cannot take at once: a cell printing faster than the pipe is read would grow the
// helper without bound, and what a timer printed between cells would still be queued when the
// next cell runs, and come out as that cell's output.
//
// Plain JavaScript (shipped as is, no build step), standard library only.

import { closeSync, constants, openSync, readSync } from "node:fs";
import { Socket } from "node:net";

const replies = new Socket({ fd: 4, readable: false, writable: true });
const requests = new Socket({ fd: 3, readable: true, writable: false });

function reply(message) {
  replies.write(`${JSON.stringify(message)}\n`);
}

for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);

/** Resolves once what was written to `stream` before is written to its descriptor. */
function flushed(stream) {
  // Queued only when written while blocking was off, or corked by the cell (which would hold the reply back forever).
  while (stream.writableCorked > 0) stream.uncork();
  if (stream.writableLength === 0 || stream.destroyed || stream.writableEnded) return undefined;
  return new Promise((resolve) => stream.write("", () => resolve()));
}

/** Read ends of the output pipes (opened again by name), to drop what nobody's code left in them. */
function openStaleReaders() {
  const readers = [];
  try {
    for (const fd of [1, 2]) readers.push(openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK));
    return readers;
  } catch {
    for (const reader of readers) closeSync(reader);
    return undefined;
  }
}

const STALE_CHUNK = Buffer.alloc(65_536);

/**
 * Before a cell runs, what a timer or process the user left running printed since the last reply
 * is in the pipes: no cell's output, and read here so that sessiond need not read the (nearly
 * always empty) pipes before each request. The cell has not started: none of it can be the cell's.
 */
function dropStaleOutput(readers) {
  for (const reader of readers) {
    // A bound, against a process that keeps writing: what comes after is the cell's to share.
    for (let i = 0; i < 16; i++) {
      let n;
      try {
        n = readSync(reader, STALE_CHUNK, 0, STALE_CHUNK.length, null);
      } catch {
        break;
      }
      if (n < STALE_CHUNK.length) break;
    }
  }
}

/**
 * Serves requests until sessiond closes fd 3 (the session is over), after announcing itself.
 * @param {(request: object) => Promise<object>} run runs one exec and returns its outcome
 * @param {string} interpreter what the ready reply names
 */
export function serveRequests(run, interpreter) {
  let held = "";
  let queue = Promise.resolve();
  const stale = openStaleReaders();
  requests.setEncoding("utf8");
  requests.on("data", (text) => {
    const lines = (held + text).split("\n");
    held = lines.pop() ?? "";
    for (const line of lines) {
      if (!line) continue;
      const request = JSON.parse(line);
      queue = queue.then(async () => {
        if (request.op === "exec") {
          if (stale) dropStaleOutput(stale);
          const outcome = await run(request);
          await flushed(process.stdout);
          await flushed(process.stderr);
          reply({ id: request.id, cwd: process.cwd(), ...outcome });
        } else if (request.op === "state") {
          reply({ id: request.id, ok: true, cwd: process.cwd(), env: { ...process.env } });
        } else {
          reply({ id: request.id, ok: false, error: `unknown op ${request.op}` });
        }
      });
    }
  });
  requests.on("end", () => process.exit(0));
  reply({ id: 0, ok: true, interpreter, ...(stale ? { dropsStaleOutput: true } : {}) });
}
