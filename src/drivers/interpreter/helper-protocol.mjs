// The request loop the Node helpers of live sessions share (typescript, llm): one JSON request
// per line on fd 3, one JSON reply per line on fd 4, so nothing a cell prints on stdout or stderr
// can be taken for the protocol. Requests run one at a time, in order:
//
//   {"id", "op": "exec", "nonce", ...}  → run(request); the end marker with the nonce on stdout
//                                          and stderr; then the reply {"id", "cwd", ...outcome}
//   {"id", "op": "state"}               → {"id", "ok", "cwd", "env"}
//
// Plain JavaScript (shipped as is, no build step), standard library only.

import { Socket } from "node:net";

const replies = new Socket({ fd: 4, readable: false, writable: true });
const requests = new Socket({ fd: 3, readable: true, writable: false });

function reply(message) {
  replies.write(`${JSON.stringify(message)}\n`);
}

function endMarker(nonce) {
  const marker = `\x1b]6973;end;${nonce}\x07`;
  process.stdout.write(marker);
  process.stderr.write(marker);
}

/**
 * Serves requests until sessiond closes fd 3 (the session is over), after announcing itself.
 * @param {(request: object) => Promise<object>} run runs one exec and returns its outcome
 * @param {string} interpreter what the ready reply names
 */
export function serveRequests(run, interpreter) {
  let held = "";
  let queue = Promise.resolve();
  requests.setEncoding("utf8");
  requests.on("data", (text) => {
    const lines = (held + text).split("\n");
    held = lines.pop() ?? "";
    for (const line of lines) {
      if (!line) continue;
      const request = JSON.parse(line);
      queue = queue.then(async () => {
        if (request.op === "exec") {
          const outcome = await run(request);
          endMarker(request.nonce);
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
  reply({ id: 0, ok: true, interpreter });
}
