import type { AddressInfo } from "node:net";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Config, SessiondError } from "../../core/index.js";
import { type AuthFailureLimiter, type UiLoginRefusal, type UiLogins, failedAuthentication, isLocal, isRefusal } from "../auth/index.js";
import { ERROR, type HeaderDoc, json, responses } from "../responses.js";
import { sendJson } from "../server-context.js";

/** Where the dashboard is served; a login link is this path with `#code=<code>`. */
export const UI_PATH = "/ui/";

const LoginCodeAnswer = Type.Object({
  code: Type.String({ description: "the one-time code (43 base64url characters)" }),
  expires_at: Type.String({ format: "date-time", description: "when the code is refused (config uiLoginCodeTtlMs after it was made)" }),
  url: Type.String({ description: "the dashboard's login link on this server: `<base>/ui/#code=<code>` (the code in the fragment, which browsers never send)" }),
});

const LoginBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 256, description: "a code from POST /ui/login-codes" }) },
  { additionalProperties: false },
);

const LoginAnswer = Type.Object({
  token: Type.String({ description: "a bearer token for the dashboard, with the principal of the code's creator; kept in this server's memory only" }),
  role: Type.Union([Type.Literal("admin"), Type.Literal("agent"), Type.Literal("reader")]),
  expires_at: Type.String({ format: "date-time", description: "when the token is refused (config uiSessionTtlMs after the exchange)" }),
});

/** Answers carrying a secret are kept by no cache (a browser's, a proxy's). */
const NO_STORE = "no-store";
const NO_STORE_HEADER: Record<string, HeaderDoc> = { "Cache-Control": { description: "`no-store`: the answer carries a secret", schema: Type.Literal(NO_STORE) } };

/**
 * The dashboard's sign-in by one-time code (docs/api.md#dashboard-sign-in):
 *
 * - `POST /ui/login-codes`: any authenticated caller (`sessiond ui` on the Unix socket, or with
 *   its token) gets a code bound to its own principal, and the login link to open. A dashboard
 *   token may not: a browser's sign-in ends when its token does.
 * - `POST /ui/login` (public): the page exchanges the code, once and before it expires, for a
 *   new short-lived bearer token. A refused code is a 401 counted against the client's address
 *   like a bad token (config `authMaxFailures`), so codes cannot be guessed by trying many.
 *
 * Both are bounded per principal (config `uiMaxLoginCodesPerPrincipal`,
 * `uiMaxSessionsPerPrincipal`) and in all (`uiMaxLoginCodes`, `uiMaxSessions`); a limit refuses
 * with 429 or signs out the same principal's oldest token, never another principal's.
 */
export const uiLoginRoutes: FastifyPluginAsyncTypebox<{ config: Config; logins: UiLogins; failures: AuthFailureLimiter }> = async (app, { config, logins, failures }) => {
  app.post(
    "/login-codes",
    {
      // A reader's code signs a page in as that reader: it grants nothing the reader has not.
      config: { readersMayPost: true },
      schema: {
        operationId: "createUiLoginCode",
        summary: "A one-time code that signs the dashboard in as the caller",
        description:
          "The code is exchanged once, within config uiLoginCodeTtlMs, at POST /ui/login for a dashboard token with the caller's role and agent scope. " +
          "`sessiond ui` asks for one and opens `url`. A caller holding config uiMaxLoginCodesPerPrincipal codes not yet exchanged gets 429 (`rate_limited`, with Retry-After) until one is used or expires.",
        tags: ["ui"],
        response: responses({ 201: json(LoginCodeAnswer, "the code and the login link", NO_STORE_HEADER) }),
      },
    },
    async (request, reply) => {
      if (logins.isDashboard(request.principal)) {
        throw new SessiondError("forbidden", { reason: "a dashboard token cannot make login codes; run `sessiond ui` where the server's data dir or a configured token is" });
      }
      const made = logins.createCode(request.principal);
      if (isRefusal(made)) throw refused(reply, made);
      const { code, expiresAt } = made;
      const body = { code, expires_at: new Date(expiresAt).toISOString(), url: `${baseUrl(request, config)}${UI_PATH}#code=${code}` };
      reply.header("cache-control", NO_STORE);
      return sendJson(reply, JSON.stringify(body), 201);
    },
  );

  app.post(
    "/login",
    {
      // Rate-limited per address like every anonymous request, and its refusals count as failed authentications.
      config: { public: true },
      // Anyone may send it: no more body than a code needs is read.
      bodyLimit: LOGIN_BODY_BYTES,
      schema: {
        operationId: "uiLogin",
        summary: "Exchange a one-time login code for a dashboard token",
        description:
          "Public. A code works once and until it expires; a reused, expired or unknown code is a 401 (`unauthorized`) counted against the client's address like a bad token. " +
          "The token answered is a bearer token like any other, with the principal of the code's creator, accepted until `expires_at` by this server (kept in its memory: a restart signs the dashboard out). " +
          "Past config uiMaxSessionsPerPrincipal live tokens from one creator's codes, the oldest of that creator's is signed out; a server holding uiMaxSessions tokens answers 429 and the code stays good.",
        tags: ["ui"],
        body: LoginBody,
        response: { ...responses({ 200: json(LoginAnswer, "the dashboard token", NO_STORE_HEADER) }), 401: ERROR },
      },
    },
    async (request, reply) => {
      const session = logins.redeem(request.body.code);
      if (session === undefined) {
        throw failedAuthentication(request, reply, failures, new SessiondError("unauthorized", { reason: "this login code is not valid: it expired, was used already, or never existed; run `sessiond ui` for a new one" }));
      }
      // A full server is no failed authentication: the code was good, and stays so.
      if (isRefusal(session)) throw refused(reply, session);
      const body = { token: session.token, role: session.principal.role, expires_at: new Date(session.expiresAt).toISOString() };
      reply.header("cache-control", NO_STORE);
      return sendJson(reply, JSON.stringify(body));
    },
  );
};

/** The most body POST /ui/login reads: `{"code": "…"}` with room to spare. */
const LOGIN_BODY_BYTES = 4096;

/** A limit's refusal as the 429 answer, with `Retry-After` when it is known. */
function refused(reply: FastifyReply, refusal: UiLoginRefusal): SessiondError {
  if (refusal.retryInMs !== undefined) reply.header("retry-after", String(Math.max(1, Math.ceil(refusal.retryInMs / 1000))));
  return new SessiondError("rate_limited", { reason: refusal.refused });
}

/**
 * The base URL a browser on this host reaches the server at: the one a TCP caller used (its
 * Host), else the TCP listener's address (a caller on the Unix socket), else the configured one
 * (an app that does not listen, in tests).
 */
function baseUrl(request: FastifyRequest, config: Pick<Config, "host" | "port">): string {
  if (!isLocal(request.raw) && request.headers.host) return `${request.protocol}://${request.host}`;
  const address = request.server.server.address() as AddressInfo | string | null;
  if (address !== null && typeof address === "object") return `http://${hostForUrl(address.address)}:${address.port}`;
  return `http://${hostForUrl(config.host)}:${config.port}`;
}

/** A listening address as a URL's host: a wildcard as loopback, IPv6 in brackets. */
function hostForUrl(address: string): string {
  if (address === "0.0.0.0" || address === "") return "127.0.0.1";
  if (address === "::") return "[::1]";
  return address.includes(":") ? `[${address}]` : address;
}
