import type { Command } from "commander";
import type { RequestSender } from "../../sdk/client/transport.js";
import { type Opts, action, clientOptions } from "../args.js";
import { withClient } from "../client.js";
import { resolveHome } from "../home.js";
import { print, printJson } from "../output.js";
import { SocketTransport } from "../socket-transport.js";

/** The answer of `POST /ui/login-codes`. */
export interface LoginLink {
  readonly code: string;
  readonly expires_at: string;
  readonly url: string;
}

/**
 * Registers `sessiond ui`: a one-time login link to the dashboard, signed in as this command's
 * caller — the local admin on the data dir's socket (the server started when none runs), or the
 * token given with `--url`. It prints the link and opens it in a browser: with `--open`, or by
 * default when a graphical session is there (`DISPLAY`/`WAYLAND_DISPLAY`, or macOS) and stdout is
 * a terminal; `--no-open` only prints. The browser is handed a page of the data dir that
 * redirects to the link, never the link itself (see open-browser.ts). The code works once, for
 * config `uiLoginCodeTtlMs` (docs/api.md#dashboard-sign-in); the token it is exchanged for never
 * appears in a URL.
 */
export function registerUiCommand(program: Command): void {
  clientOptions(program.command("ui"))
    .description("open the dashboard: print (and open) a one-time login link that signs the browser in as you (docs/api.md#dashboard-sign-in)")
    .option("--url <url>", "a sessiond server's URL instead of the local socket, e.g. http://127.0.0.1:8011")
    .option("--token <token>", "the bearer token for --url (env SESSIOND_TOKEN); the page gets a token of its own with the same rights")
    .option("--open", "open the link in a browser (xdg-open, or open on macOS)")
    .option("--no-open", "only print the link")
    .action(
      action(async (o: Opts) => {
        const url = typeof o.url === "string" ? o.url : undefined;
        const token = typeof o.token === "string" ? o.token : process.env.SESSIOND_TOKEN || undefined;
        const link = url === undefined ? await localLink(o) : await remoteLink(o, url, token);
        if (o.json) printJson(link);
        else print(`${link.url}\n`);
        const open = typeof o.open === "boolean" ? o.open : canOpen();
        if (!open) return;
        // The link is never an argument of the opener: other users can read every command line.
        const { openLoginLink } = await import("../open-browser.js");
        const problem = await openLoginLink(link.url, resolveHome(o));
        if (problem !== undefined) print(`sessiond: could not open a browser (${problem}); open the link above within ${secondsLeft(link)} s\n`, process.stderr);
      }),
    );
}

/** A code from the server of the data dir, on its socket: started first when none answers. */
async function localLink(o: Opts): Promise<LoginLink> {
  return withClient(o, async (client) => {
    const transport = new SocketTransport(client.socketPath);
    try {
      return await createCode(transport);
    } finally {
      await transport.close();
    }
  });
}

/** A code from the server at a URL, made with the token; nothing is started. */
async function remoteLink(o: Opts, baseUrl: string, token: string | undefined): Promise<LoginLink> {
  const { Transport } = await import("../../sdk/client/transport.js");
  const transport = new Transport({ baseUrl, ...(token !== undefined ? { token } : {}), ...(typeof o.home === "string" ? { home: o.home } : {}) });
  try {
    return await createCode(transport);
  } finally {
    await transport.close();
  }
}

async function createCode(sender: RequestSender): Promise<LoginLink> {
  return (await sender.request<LoginLink>({ method: "POST", path: "/ui/login-codes" })).body;
}

/** Whether a browser can be opened here without being asked: a graphical session, and a person at the terminal. */
function canOpen(): boolean {
  if (!process.stdout.isTTY) return false;
  return process.platform === "darwin" || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

function secondsLeft(link: LoginLink): number {
  return Math.max(0, Math.round((Date.parse(link.expires_at) - Date.now()) / 1000));
}
