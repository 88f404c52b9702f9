import { ExponentialBackoff, type IBackoff } from "cockatiel";
import pg from "pg";
import { defaultConfig } from "../../core/index.js";
import { COMMITS_CHANNEL } from "./db.js";

/** What listenForCommits reports to. */
export interface CommitNoticeOptions {
  /** Told when the listening connection fails or cannot be opened; it is opened again. */
  readonly onError: (err: Error) => void;
  /**
   * The longest wait between two attempts to open the listening connection again; the first
   * waits 1/32 of it, each next one twice the last. @default config `clusterPollMs`'s default
   */
  readonly retryMaxMs?: number;
}

/** Notices that some process committed events to the store, while anyone subscribes. */
export interface CommitNotices {
  /**
   * Calls `listener` after each notice of a commit to this connection's schema (this process's
   * commits included; a notice naming no schema counts too), and once after the listening
   * connection is (re)opened, since notices sent while it was down are lost.
   * @returns a function that stops the calls
   */
  subscribe(listener: () => void): () => void;
  /** Stops listening and closes the connection. Later calls return the first call's promise. */
  close(): Promise<void>;
}

/** How many times the first retry delay doubles before it reaches `retryMaxMs`. */
const RETRY_DOUBLINGS = 5;

/**
 * Listens for commit notices on one connection of its own (`LISTEN` holds a session, so it cannot
 * be a pooled one), opened with the pool's settings when the first listener subscribes. A dropped
 * connection (a server restart, pg_terminate_backend, a network failure) is reported to
 * `onError` and opened again with a growing delay, for as long as it is not closed; nothing here
 * throws or leaves an error unhandled. Notices are only a hint: a reader reads the store by
 * position and polls too, so a lost or extra notice costs latency or one read, never an event.
 *
 * @example
 * const notices = listenForCommits(pool, { onError: (err) => log.warn(err) });
 * const stop = notices.subscribe(() => feed.readNewRows());
 */
export function listenForCommits(pool: pg.Pool, options: CommitNoticeOptions): CommitNotices {
  const retryMaxMs = options.retryMaxMs ?? defaultConfig("").clusterPollMs;
  const listeners = new Set<() => void>();
  let client: pg.Client | undefined;
  let opening: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  // cockatiel's exponential backoff (with jitter), as the SDK's stream reconnects use.
  const freshBackoff = (): IBackoff<unknown> => new ExponentialBackoff({ initialDelay: retryMaxMs / 2 ** RETRY_DOUBLINGS, maxDelay: retryMaxMs }).next();
  let backoff = freshBackoff();
  let closing: Promise<void> | undefined;

  const report = (err: unknown) => {
    try {
      options.onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A failing error handler must not stop the listener.
    }
  };
  const notify = () => {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (err) {
        report(err);
      }
    }
  };

  /** Forgets a connection that failed or ended (once per connection) and schedules a new one. */
  const lost = (c: pg.Client) => {
    if (client === c) client = undefined;
    c.removeAllListeners("notification");
    // pg emits 'error' and then 'end' for the same failure: only the first schedules a retry.
    if (dropped.has(c)) return;
    dropped.add(c);
    // A connection that failed may still hold a socket; ending it is safe twice.
    c.end().catch(() => {});
    scheduleOpen();
  };
  const dropped = new WeakSet<pg.Client>();

  const scheduleOpen = () => {
    if (closing || retry || opening) return;
    const delay = backoff.duration;
    backoff = backoff.next(undefined);
    retry = setTimeout(() => {
      retry = undefined;
      open();
    }, delay);
    // The server keeps the process alive; a listener waiting to reconnect alone should not.
    retry.unref();
  };

  const open = () => {
    if (closing || client || opening) return;
    opening = (async () => {
      const c = new pg.Client({ ...pool.options, keepAlive: true });
      // Without an 'error' listener a dropped connection would crash the process.
      c.on("error", (err) => {
        report(err);
        lost(c);
      });
      c.on("end", () => lost(c));
      let schema: string | undefined;
      c.on("notification", (message) => {
        // The channel is the database's, shared by every schema in it: a notice naming another
        // schema is another store's commit (one naming none may be anyone's).
        if (message.channel === COMMITS_CHANNEL && (!message.payload || message.payload === schema)) notify();
      });
      try {
        await c.connect();
        schema = (await c.query<{ schema: string }>("SELECT current_schema() AS schema")).rows[0]?.schema;
        await c.query(`LISTEN ${COMMITS_CHANNEL}`);
      } catch (err) {
        report(err);
        lost(c);
        return;
      }
      if (closing || dropped.has(c)) {
        await c.end().catch(() => {});
        return;
      }
      client = c;
      backoff = freshBackoff();
      // Whatever was committed before LISTEN took effect sent its notice to no one.
      notify();
    })().finally(() => {
      opening = undefined;
      // A connection lost while opening scheduled nothing (opening was set): schedule now.
      if (!client && !closing && listeners.size) scheduleOpen();
    });
  };

  return {
    subscribe(listener) {
      // A distinct entry per call, so subscribing the same function twice is undone twice.
      const entry = () => listener();
      listeners.add(entry);
      open();
      return () => {
        listeners.delete(entry);
      };
    },
    close() {
      closing ??= (async () => {
        clearTimeout(retry);
        retry = undefined;
        listeners.clear();
        await opening;
        const c = client;
        client = undefined;
        if (c) {
          dropped.add(c);
          await c.end().catch(() => {});
        }
      })();
      return closing;
    },
  };
}
