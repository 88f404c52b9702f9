import { errorFromWire } from "../sdk/client/errors.js";
import { visible } from "./output.js";

/** The key that leaves an attached terminal with the session still running: Ctrl-] (as telnet), byte 0x1d. */
export const DETACH_KEY = 0x1d;

/**
 * Where the attach WebSocket goes: the data dir's Unix socket, like every other command (its
 * 0600 mode is the authentication, so no token is read).
 */
export interface AttachTarget {
  /** The server's Unix socket. */
  socketPath: string;
}

/** How an attach ended. */
export type AttachEnd = { how: "detached" } | { how: "closed"; code: number; reason: string };

/**
 * `sessiond attach`: the raw terminal of a live shell session over the attach WebSocket
 * (docs/streams.md), like `tmux attach`. The local terminal goes to raw mode, keystrokes go to
 * the PTY, output comes back as it is, and the remote terminal follows the local size. Ctrl-]
 * detaches and leaves the session running. The terminal mode is restored however it ends.
 * @throws SessiondError when the server refuses (not a shell, not running, unknown)
 */
export async function attach(target: AttachTarget, ref: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stdout): Promise<AttachEnd> {
  const { WebSocket } = await import("ws");
  // ws's form for a Unix socket: ws+unix:<socket path>:<request path>.
  const ws = new WebSocket(`ws+unix:${target.socketPath}:/sessions/${encodeURIComponent(ref)}/attach`);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => {
        let parsed: unknown = body;
        try {
          parsed = JSON.parse(body);
        } catch {
          // Not our error shape: errorFromWire maps the status.
        }
        reject(errorFromWire(res.statusCode ?? 500, parsed));
      });
    });
  });

  const wasRaw = input.isTTY ? input.isRaw : false;
  if (input.isTTY) input.setRawMode(true);
  input.resume();
  const sendSize = () => {
    if (output.columns && output.rows) ws.send(JSON.stringify({ type: "resize", cols: output.columns, rows: output.rows }));
  };
  sendSize();

  return new Promise<AttachEnd>((resolve) => {
    let ended = false;
    const finish = (end: AttachEnd) => {
      if (ended) return;
      ended = true;
      input.off("data", onKeys);
      output.off("resize", sendSize);
      if (input.isTTY) input.setRawMode(wasRaw);
      input.pause();
      resolve(end);
    };
    const onKeys = (data: Buffer) => {
      const at = data.indexOf(DETACH_KEY);
      if (at >= 0) {
        if (at > 0) ws.send(data.subarray(0, at));
        ws.close(1000, "detached");
        finish({ how: "detached" });
        return;
      }
      ws.send(data);
    };
    input.on("data", onKeys);
    output.on("resize", sendSize);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        output.write(data);
        return;
      }
      for (const line of data.toString().split("\n")) {
        if (!line) continue;
        const msg = JSON.parse(line) as { type: string; role?: string; message?: string };
        if (msg.type === "hello" && msg.role === "observer") process.stderr.write("[attached as an observer: someone else is typing]\r\n");
        else if (msg.type === "role") process.stderr.write(`[you are now the ${visible(String(msg.role))}]\r\n`);
        else if (msg.type === "error") process.stderr.write(`[${visible(String(msg.message))}]\r\n`);
      }
    });
    ws.on("close", (code, reason) => finish({ how: "closed", code, reason: reason.toString() }));
    ws.on("error", () => {
      // The close event follows with the code; nothing else to do here.
    });
  });
}
