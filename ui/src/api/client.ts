import { type TokenSource, clearToken, getToken, tokenSource } from "./token.js";

/** An answer of the API that was not a success: the server's `{error: {code, message, field?}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** What the page shows: the server's message, and its code. */
  describe(): string {
    return `${this.message} (${this.code})`;
  }
}

/** What a request carries besides its path. */
export interface RequestOptions {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** A success: the parsed body and the headers (X-Next-Cursor…). */
export interface ApiAnswer<T> {
  readonly data: T;
  readonly headers: Headers;
}

/** Told of a 401 to the stored token: the server's answer, and where that token came from. */
type Listener = (error: ApiError, from: TokenSource) => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when the server answers 401 to the stored token (a request, or a stream reconnecting): the page signs out. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The headers every API request carries: the tab's bearer token. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/**
 * Calls the API with the tab's token. Resolves with the parsed JSON (undefined for an empty
 * answer); rejects with an ApiError carrying the server's code and message, or a network error.
 */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<ApiAnswer<T>> {
  const headers = authHeaders({ accept: "application/json", ...options.headers });
  const init: RequestInit = { method: options.method ?? "GET", headers, cache: "no-store" };
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;
  const res = await fetch(path, init);
  const text = await res.text();
  if (!res.ok) throw toApiError(res.status, text);
  return { data: (text === "" ? undefined : JSON.parse(text)) as T, headers: res.headers };
}

/** An error answer as an ApiError; a 401 signs the tab out. */
export function toApiError(status: number, text: string): ApiError {
  let error: ApiError;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; field?: string } };
    const e = body.error;
    error = new ApiError(status, e?.code ?? "http_" + status, e?.message ?? `HTTP ${status}`, e?.field);
  } catch {
    error = new ApiError(status, "http_" + status, text.slice(0, 200) || `HTTP ${status}`);
  }
  if (status === 401 && getToken() !== null) {
    const from = tokenSource();
    clearToken();
    for (const listener of unauthorizedListeners) listener(error, from);
  }
  return error;
}

/** A message for any failure: an ApiError's description, else the error's message. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A query string from a parameter map; arrays repeat their name, empty values are left out. */
export function query(params: Record<string, string | number | readonly string[] | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const v of value) q.append(key, v);
    else q.append(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}
