import { join } from "node:path";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { DATA_FILES, DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_HOME_DIR, DEFAULT_HOST, DEFAULT_LIST_SCAN_ROWS, DEFAULT_PORT, ENV_ALIASES } from "./defaults.js";
import { errors } from "./errors.js";
import { validate } from "./schemas.js";

const MiB = 1024 * 1024;

/** An ssh host key's SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:` + 43 base64 characters). */
export const SshHostKeySha256 = Type.String({ minLength: 1, maxLength: 100, pattern: "^(SHA256:)?[A-Za-z0-9+/]{43}=?$" });

/**
 * Every option sessiond has, with its default and unit. Durations end in `Ms`, sizes in `Bytes`.
 * Sources merge as defaults < config file < environment < flags; the result is validated once
 * (unknown keys refused) and frozen, then passed down. Nothing else reads env or holds a literal
 * port, path or timeout.
 */
export const ConfigSchema = Type.Object(
  {
    /** The data dir. Env `SESSIOND_HOME`. @default "~/.sessiond" */
    home: Type.String({ minLength: 1 }),
    /** Which store: the embedded SQLite file, or PostgreSQL for scale-out. Env `SESSIOND_STORE`. @default "sqlite" */
    store: Type.Union([Type.Literal("sqlite"), Type.Literal("postgres")]),
    /** PostgreSQL connection string when `store` is postgres. Env `SESSIOND_PG_URL`. */
    pgUrl: Type.Optional(Type.String()),
    /** Connections the PostgreSQL store's pool opens at most. @default 10 */
    pgPoolSize: Type.Integer({ minimum: 1 }),
    /** How long opening a PostgreSQL connection may take before the query fails. @default 5000 */
    pgConnectTimeoutMs: Type.Integer({ minimum: 1 }),
    /** Redis URL for pub/sub events and scale-out. Env `SESSIOND_REDIS_URL`. */
    redisUrl: Type.Optional(Type.String()),
    /** The Redis pub/sub channel session events are published on (seed 003). @default "events:session" */
    redisChannel: Type.String({ minLength: 1 }),
    /**
     * Messages held in memory while Redis is unreachable or slower than the writers; past this the
     * oldest are dropped (and counted). 0 holds none. @default 10000
     */
    redisMaxQueuedMessages: Type.Integer({ minimum: 0 }),
    /** How long a publish may wait for Redis's reply before it counts as failed. @default 5000 */
    redisCommandTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * Webhooks to deliver besides those registered through the API or `configureWebhook`; each
     * gets the seed 004 events in `events` (all when empty or absent), signed when it has a
     * `secret`. Config file only.
     * @default []
     */
    webhooks: Type.Array(
      Type.Object(
        {
          /** Where to POST; http or https. */
          url: Type.String({ pattern: "^https?://[^\\s]+$", maxLength: 2048 }),
          /** The seed 004 events to deliver; all when empty or absent. */
          events: Type.Optional(
            Type.Array(Type.Union(["start", "pause", "resume", "complete", "error", "timeout"].map((e) => Type.Literal(e)))),
          ),
          /** Signs every delivery with HMAC-SHA256 (see docs/events.md). */
          secret: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Attempts per webhook delivery, the first included, before it is marked failed. @default 12 */
    webhookMaxAttempts: Type.Integer({ minimum: 1 }),
    /** The first retry delay of a webhook delivery; later ones grow exponentially, with jitter. @default 1000 */
    webhookBackoffBaseMs: Type.Integer({ minimum: 1 }),
    /** The longest delay between two attempts of a webhook delivery. @default 600000 (10 minutes) */
    webhookBackoffMaxMs: Type.Integer({ minimum: 1 }),
    /** How long one webhook attempt may take, connect to response, before it counts as failed. @default 10000 */
    webhookTimeoutMs: Type.Integer({ minimum: 1 }),
    /** Webhook attempts in flight at once, over all registrations. @default 8 */
    webhookMaxConcurrency: Type.Integer({ minimum: 1 }),
    /** How long session events wait in memory to be recorded as deliveries in one batch; 0 records them on the next turn. @default 10 */
    webhookFlushIntervalMs: Type.Integer({ minimum: 0 }),
    /** Session events waiting to be recorded as deliveries; past this they are dropped (and counted). @default 10000 */
    webhookMaxBufferedEvents: Type.Integer({ minimum: 1 }),
    /** The longest the webhook sender sleeps before looking for due deliveries in the store. @default 5000 */
    webhookPollIntervalMs: Type.Integer({ minimum: 1 }),
    /**
     * How long closing the webhook sender (server shutdown, the embedded API's `closeSessions()`)
     * keeps sending deliveries that are due before handing the rest back to the store for the
     * next process with a sender; 0 hands them back at once. @default 5000
     */
    webhookDrainTimeoutMs: Type.Integer({ minimum: 0 }),
    /** Delivered and failed webhook deliveries older than this are deleted from the log; 0 keeps them. @default 604800000 (7 days) */
    webhookLogRetentionMs: Type.Integer({ minimum: 0 }),
    /** How often old webhook deliveries are pruned. @default 3600000 (1 hour) */
    webhookLogPruneIntervalMs: Type.Integer({ minimum: 1 }),
    /**
     * Webhook targets allowed although they are private, loopback, link-local, metadata or
     * unspecified addresses (refused otherwise, at registration and after DNS resolution at each
     * attempt; see docs/events.md). Each entry is a host name (`hooks.internal`, matched exactly,
     * whatever it resolves to), an IP address (`127.0.0.1`, `::1`) or a CIDR range (`10.1.0.0/16`).
     * A single entry can come from env `SESSIOND_WEBHOOK_ALLOW_HOSTS`.
     * @default []
     */
    webhookAllowHosts: Type.Array(Type.String({ minLength: 1, maxLength: 255 })),
    /**
     * SQLite `synchronous` in WAL mode. `normal`: an acknowledged write survives a crash of the
     * process (kill -9), as DESIGN.md §5 requires, but the newest commits may be lost to a power
     * failure or kernel crash. `full`: every group commit is fsynced, so acknowledged writes also
     * survive power loss, at several times the cost per commit.
     * @default "normal"
     */
    sqliteSynchronous: Type.Union([Type.Literal("full"), Type.Literal("normal")]),
    /** How long a SQLite writer waits for a lock held by another connection. @default 5000 */
    sqliteBusyTimeoutMs: Type.Integer({ minimum: 0 }),
    /** SQLite page cache (it counts toward the process's memory). @default 16777216 (16 MiB) */
    sqliteCacheBytes: Type.Integer({ minimum: 1024 }),
    /** WAL pages written between automatic checkpoints (SQLite's default is 1000). @default 10000 */
    sqliteCheckpointPages: Type.Integer({ minimum: 0 }),
    /** Sessions kept in memory (LRU); only sessions with nothing unwritten are evicted. @default 10000 */
    hotPoolSize: Type.Integer({ minimum: 1 }),
    /** The largest context a session may hold, serialized. @default 1048576 (1 MiB) */
    maxContextBytes: Type.Integer({ minimum: 1 }),
    /**
     * The largest data an event or checkpoint may carry, serialized. Room for an exec event with
     * a full `maxExecOutputBytes` of output, which JSON escaping can grow several times.
     * @default 4194304 (4 MiB)
     */
    maxEventBytes: Type.Integer({ minimum: 1 }),
    /** The most writes one group commit carries; more wait for the next. @default 20000 */
    maxCommitBatch: Type.Integer({ minimum: 1 }),
    /** max_iterations given to seed-004 `startSession` calls that set none. @default 50 */
    defaultMaxIterations: Type.Integer({ minimum: 0 }),
    /** How many recent events `getSessionContext` returns as `recentHistory`. @default 10 */
    recentHistoryLength: Type.Integer({ minimum: 0 }),
    /** The page size of a list that sets no limit. @default 50 */
    defaultPageSize: Type.Integer({ minimum: 1, maximum: 1000 }),
    /**
     * The most sessions a search (`q` on `GET /sessions/`, the SDK's and MCP's lists) examines for
     * one page: past them the page comes back short, even empty, with a next cursor that goes on
     * where the search stopped, so a rare text over many sessions (or a costly one) never holds
     * the server up. `GET /stats` with `q` counts only when the other filters select at most this
     * many sessions, and refuses otherwise (400 naming `q`). docs/api.md#listing-sessions.
     * @default 10000
     */
    listScanRows: Type.Integer({ minimum: 1 }),
    /**
     * Turns live execution sessions (shell, python, typescript, llm) on: seed 000's switch. Env
     * `ENABLE_SESSIONS` (seed 000's name) or `SESSIOND_ENABLE_SESSIONS`, which wins when both are set.
     * @default false
     */
    enableSessions: Type.Boolean(),
    /**
     * Seed 000's per-mode switches. `session: true` turns live sessions on like `enableSessions`;
     * `<kind>: false` turns one kind off while the others stay on (`code: false` covers python and
     * typescript unless they are set themselves). Config file only.
     * @default {}
     */
    executionModes: Type.Object(
      {
        session: Type.Optional(Type.Boolean()),
        shell: Type.Optional(Type.Boolean()),
        python: Type.Optional(Type.Boolean()),
        typescript: Type.Optional(Type.Boolean()),
        llm: Type.Optional(Type.Boolean()),
        code: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    /**
     * Modules that add modes to `sessiond serve` (docs/drivers.md): each a path (absolute, or
     * relative to the server's working directory) or a package name resolved from there, whose
     * default export (or export `driver`) is a SessionDriver or a function `({config, log})` that
     * makes one. Loaded at start, in order; one that cannot load or exports no driver stops the
     * start naming it. Env `SESSIOND_DRIVER_MODULES` gives one module. @default []
     */
    driverModules: Type.Array(Type.String({ minLength: 1, maxLength: 4096 })),
    /**
     * Token roles that may start, exec in, interrupt, stop and list live sessions over HTTP
     * (seed 000: admin-only by default). Adding "agent" lets agent tokens run sessions of their
     * own agent_id/user_id. Reading exec input and output (logs, exec events, streams, attach)
     * is open to admin and the owning agent whatever this says, and to reader tokens only when it
     * lists "reader" (docs/api.md, "What a token may read"). The Unix socket is always admin.
     * @default ["admin"]
     */
    execRoles: Type.Array(Type.Union([Type.Literal("admin"), Type.Literal("agent"), Type.Literal("reader")]), { uniqueItems: true }),
    /** How long one exec may run before it is interrupted and reported as `timeout`. @default 30000 */
    execTimeoutMs: Type.Integer({ minimum: 1 }),
    /** The largest `timeout_ms` one exec may ask for. @default 3600000 (1 hour) */
    maxExecTimeoutMs: Type.Integer({ minimum: 1 }),
    /** Output one exec keeps (stdout and stderr together); the rest is read and dropped, and the result is `truncated`. @default 1048576 (1 MiB) */
    maxExecOutputBytes: Type.Integer({ minimum: 1 }),
    /** The largest input (command text) one exec accepts. @default 262144 (256 KiB) */
    maxExecInputBytes: Type.Integer({ minimum: 1 }),
    /**
     * What a shell's terminal is read at, at most, between execs (a background job's output), in
     * bytes per second: past it the server rests from reading, and the writer waits, as on a slow
     * terminal; the same pace as the stderr pipe's between execs (64 KiB per FIFO_IDLE_POLL_MS).
     * Without it, one agent's background floods (`yes &` in each of its sessions) took the server's
     * CPU from everyone. 0 turns it off. @default 262144 (256 KiB/s)
     */
    backgroundOutputBytesPerSecond: Type.Integer({ minimum: 0 }),
    /** Execs that may wait behind the running one in a session; more are refused (429). @default 100 */
    maxQueuedExecs: Type.Integer({ minimum: 0 }),
    /**
     * Input bytes that may wait in all sessions' exec queues together; an exec that would wait
     * past this is refused (429). Bounds the memory queued commands hold. @default 67108864 (64 MiB)
     */
    maxQueuedExecBytes: Type.Integer({ minimum: 0 }),
    /** A live session with no exec for this long is stopped (status timeout); 0 turns it off. @default 1800000 (30 minutes) */
    idleTimeoutMs: Type.Integer({ minimum: 0 }),
    /**
     * A live session with no exec for this long is hibernated: its state checkpointed (an
     * interpreter's cells, a shell's cwd and environment), its process stopped, nothing held; its
     * next exec or attach wakes it (docs/checkpoints.md#hibernation). Shorter than idleTimeoutMs
     * to matter; 0 turns it off. @default 0 (off)
     */
    hibernateAfterMs: Type.Integer({ minimum: 0 }),
    /** A live session's process is stopped (status timeout) this long after it (re)started; 0 turns it off. @default 86400000 (24 hours) */
    maxLifetimeMs: Type.Integer({ minimum: 0 }),
    /** How often the live-session reaper checks idle and lifetime limits. @default 5000 */
    reaperIntervalMs: Type.Integer({ minimum: 1 }),
    /** Live execution sessions one server may hold; more are refused (429). @default 256 */
    maxLiveSessions: Type.Integer({ minimum: 0 }),
    /**
     * Live execution sessions of one `agent_id` one server may hold (so one agent cannot take
     * every one of maxLiveSessions); more are refused (429). Sessions with no agent_id count only
     * against maxLiveSessions; 0 turns it off. @default 64
     */
    maxLiveSessionsPerAgent: Type.Integer({ minimum: 0 }),
    /**
     * At start, bring back the live sessions that crashed only because a server went away: those
     * whose latest crash reason is `sessiond shut down` or `sessiond restarted; the process is
     * gone` (python and typescript ones with their cells replayed, which repeats their side
     * effects). In the background after the app is ready, a few at a time, within
     * `maxLiveSessions`; each gets an `auto_recovered` event, or stays crashed with an
     * `auto_recover_failed` event saying why (docs/exec-sessions.md#automatic-recovery). Env
     * `SESSIOND_AUTO_RECOVER`.
     * @default false
     */
    autoRecover: Type.Boolean(),
    /** How long a live session's process may take to start and become ready. @default 10000 */
    startTimeoutMs: Type.Integer({ minimum: 1 }),
    /** After SIGTERM (SIGHUP for the shell itself) at stop, how long before SIGKILL. @default 2000 */
    stopGraceMs: Type.Integer({ minimum: 0 }),
    /** After an interrupt (Ctrl-C), how long before the running command is killed, and as long again before the shell is. @default 2000 */
    interruptGraceMs: Type.Integer({ minimum: 1 }),
    /** A shell's exported environment is saved (for recovery) after an exec that may change it, or after this long without execs. @default 1000 */
    stateSyncMs: Type.Integer({ minimum: 1 }),
    /** The shell live shell sessions run (bash, started with `--norc --noprofile` and sessiond's own setup). @default "bash" */
    shellPath: Type.String({ minLength: 1 }),
    /** Variables a new shell inherits from the server's environment (nothing else leaks in). @default PATH, HOME, USER, LOGNAME, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR, SHELL */
    shellEnv: Type.Array(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" })),
    /**
     * Variables that look secret (a name with SECRET, TOKEN, PASSWORD, API_KEY…, or a URL value
     * with a password; docs/exec-sessions.md, "Recovery") are not saved in a live session's
     * runtime_metadata.env, so a recovered session lacks them — except those named here; `["*"]`
     * saves every variable.
     * @default []
     */
    saveSecretEnv: Type.Array(Type.String({ pattern: "^([A-Za-z_][A-Za-z0-9_]*|\\*)$" })),
    /**
     * The most processes one live session may have: `pids.max` of its pids cgroup where the host
     * allows one, and `ulimit -u` in its shell (which Linux does not apply to root); 0 for no limit.
     * @default 4096
     */
    shellMaxProcesses: Type.Integer({ minimum: 0 }),
    /**
     * Put each live session in a pids cgroup of its own (cgroup v1 or v2, where writable): caps its
     * processes even for root, and lets stop find every process it started, daemons included.
     * @default true
     */
    shellCgroup: Type.Boolean(),
    /**
     * How live sessions on this machine are contained (docs/security.md). `bwrap`: each session's
     * process runs under bubblewrap as an unprivileged uid of its own (from `sandboxUidBase`), in
     * its own mount, PID, IPC and UTS namespaces, seeing its workspace read-write, the system
     * read-only and a private /tmp — nothing of the data dir or of the server's process. Live
     * sessions are refused, naming what is missing, where it cannot start. `none`: sessions run as
     * the server's user with its view of the machine (`sessiond config` and every start warn).
     * @default "bwrap"
     */
    sandbox: Type.Union([Type.Literal("bwrap"), Type.Literal("none")]),
    /** Whether sandboxed sessions reach the network (the host's); a start request's `network` overrides it. @default true */
    sandboxNetwork: Type.Boolean(),
    /**
     * `sessiond serve` refuses to start when live sessions share the host's network and PostgreSQL
     * listens on this host with no password in `pgUrl`: code in a session could rewrite every
     * session and point other nodes' forwarded requests, with their tokens, at itself. True
     * accepts that (a test machine), with a warning. Env `SESSIOND_ALLOW_REACHABLE_DATABASE`.
     * @default false
     */
    allowReachableDatabase: Type.Boolean(),
    /** The first uid (and gid) given to sandboxed sessions; each live session takes one of `sandboxUidCount` from here. @default 200000 */
    sandboxUidBase: Type.Integer({ minimum: 1000, maximum: 4_000_000_000 }),
    /** How many uids sandboxed sessions may use (at least maxLiveSessions). @default 65536 */
    sandboxUidCount: Type.Integer({ minimum: 1, maximum: 16_777_216 }),
    /**
     * Where the servers of this host claim the sandbox uids they run sessions as, so that two
     * never share one (drivers/sandbox/uid-claims.ts); root's, on a tmpfs. @default "/run/sessiond/uids"
     */
    sandboxUidClaimDir: Type.String({ minLength: 2, pattern: "^/", "x-expected": "an absolute path (starting with /)" }),
    /** Host paths (files or folders) a sandboxed session also sees, read-only, at the same path: tool chains outside /usr. @default [] */
    sandboxReadOnlyPaths: Type.Array(Type.String({ minLength: 2, pattern: "^/", "x-expected": "an absolute path (starting with /)" })),
    /** Memory one live session may use (its cgroup's limit); past it the kernel kills its largest process. 0 for no limit. @default 2147483648 (2 GiB) */
    sessionMemoryBytes: Type.Integer({ minimum: 0 }),
    /** CPU one live session may use, in cores (its cgroup's quota); 0 for no limit. @default 1 */
    sessionCpus: Type.Number({ minimum: 0, maximum: 1024 }),
    /**
     * The memory all live sessions together may use, in percent of this machine's memory (the limit
     * of their parent cgroup): many sessions each under `sessionMemoryBytes` cannot starve the
     * server. 0 for no cap. @default 75
     */
    sessionsMemoryPercent: Type.Integer({ minimum: 0, maximum: 100 }),
    /**
     * Disk one sandboxed session may fill: no file it writes may pass it (RLIMIT_FSIZE, enforced by
     * the kernel), and a session whose workspace holds more is stopped (status timeout, reason
     * disk_limit) at the next check. 0 for no limit. @default 10737418240 (10 GiB)
     */
    sessionDiskBytes: Type.Integer({ minimum: 0 }),
    /** How often a sandboxed session's workspace is measured against sessionDiskBytes. @default 30000 */
    diskCheckIntervalMs: Type.Integer({ minimum: 1 }),
    /**
     * The interpreter python sessions run (resolved once per server to its real executable, so a
     * version-manager shim such as pyenv's is paid once, not per session). @default "python3"
     */
    pythonPath: Type.String({ minLength: 1 }),
    /**
     * Whether typescript sessions type-check each cell before it runs (a type error is the cell's
     * error, and it does not run) when a start does not say (`typecheck`). Needs the `typescript`
     * package installed with sessiond (docs/interpreters.md#type-checking). Env
     * `SESSIOND_TYPESCRIPT_TYPECHECK`. @default false
     */
    typescriptTypecheck: Type.Boolean(),
    /** Base URL of the OpenAI-compatible API llm sessions talk to (`…/v1`); a session's `metadata.base_url` overrides it. @default "https://api.openai.com/v1" */
    llmBaseUrl: Type.String({ minLength: 1 }),
    /** Model of llm sessions unless a session's `metadata.model` names one. @default "gpt-4o-mini" */
    llmModel: Type.String({ minLength: 1 }),
    /**
     * Bearer key for the llm endpoint. Env `SESSIOND_LLM_API_KEY`, or `OPENAI_API_KEY`. Never
     * logged, never stored in a session; `sessiond config` masks it. @default none
     */
    llmApiKey: Type.Optional(Type.String({ minLength: 1 })),
    /** System prompt of llm sessions unless a session's `metadata.system_prompt` sets one; "" for none. @default "" */
    llmSystemPrompt: Type.String(),
    /** Past conversation sent with each llm turn, in tokens (estimated at 4 characters a token); older messages are left out. @default 8000 */
    llmHistoryTokens: Type.Integer({ minimum: 1 }),
    /** Ask for replies token by token (`stream: true`, shown live on the session stream); false asks for whole replies. @default true */
    llmStream: Type.Boolean(),
    /** Attempts per llm request, the first included, on 429, 5xx, network errors and timeouts. @default 3 */
    llmMaxAttempts: Type.Integer({ minimum: 1 }),
    /** The first retry delay of an llm request; later ones grow exponentially, with jitter (cockatiel). @default 500 */
    llmBackoffBaseMs: Type.Integer({ minimum: 1 }),
    /** The longest delay between two attempts of an llm request. @default 10000 */
    llmBackoffMaxMs: Type.Integer({ minimum: 1 }),
    /** How long an llm request may go without a byte from the endpoint (connect, headers, between streamed chunks) before the attempt fails. @default 30000 */
    llmRequestTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * Prices per model, in USD per million tokens, for the cost an llm session adds up in
     * `metadata.cost_usd`; a model not listed costs nothing. @default {}
     * @example { "gpt-4o-mini": { "input": 0.15, "output": 0.6 } }
     */
    llmPrices: Type.Record(
      Type.String({ minLength: 1 }),
      Type.Object({ input: Type.Number({ minimum: 0 }), output: Type.Number({ minimum: 0 }) }, { additionalProperties: false }),
    ),
    /**
     * Defaults of `server: "ssh"` shell sessions; a start request's `server_options` override them.
     * `keyPath` is a private key file read at connect time (never logged or stored in a session).
     * Config file only.
     * @default { port: 22 }
     */
    ssh: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1 })),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        user: Type.Optional(Type.String({ minLength: 1 })),
        keyPath: Type.Optional(Type.String({ minLength: 1 })),
        /** The host's key fingerprint (`SHA256:…`), when a request gives none. */
        hostKeySha256: Type.Optional(SshHostKeySha256),
        /** Connect to hosts whose key is not pinned, accepting any key (open to a man in the middle). @default false */
        acceptUnknownHostKeys: Type.Optional(Type.Boolean()),
        /** The folder on the ssh host in which each session makes its private runtime folder (rc, stderr FIFO). @default "/tmp" */
        runtimeDir: Type.Optional(Type.String({ minLength: 1, pattern: "^/", "x-expected": "an absolute path (starting with /)" })),
      },
      { additionalProperties: false },
    ),
    /** Terminal width of a new shell. @default 120 */
    ptyCols: Type.Integer({ minimum: 1, maximum: 10000 }),
    /** Terminal height of a new shell. @default 30 */
    ptyRows: Type.Integer({ minimum: 1, maximum: 10000 }),
    /** Address the HTTP server binds. Env `SESSIOND_HOST`. @default "127.0.0.1" */
    host: Type.String({ minLength: 1 }),
    /** TCP port of the HTTP server; 0 takes a free one. Env `SESSIOND_PORT`. @default 8011 */
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    /**
     * Whether TCP requests need a bearer token. Turning it off is refused unless every listener
     * is loopback. The Unix socket never needs one (its 0600 mode is the guard). Env `SESSIOND_AUTH`.
     * @default true
     */
    auth: Type.Boolean(),
    /**
     * Tokens besides the generated admin token (which lives in `$SESSIOND_HOME/token`). An agent
     * token is bound to an agent_id and/or user_id and sees only those sessions; a reader token
     * may only GET. Config file only.
     * @default []
     */
    tokens: Type.Array(
      Type.Object(
        {
          /**
           * The bearer secret: at least 32 characters, at least 10 of them different. The server
           * refuses to start with a weaker one, naming its `name` and role (never the secret).
           */
          token: Type.String({ minLength: 1, maxLength: 512 }),
          role: Type.Union([Type.Literal("admin"), Type.Literal("agent"), Type.Literal("reader")]),
          /** A label for logs and metrics (never the secret). */
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          /** agent tokens: the agent whose sessions it may touch. */
          agent_id: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          /** agent tokens: the user whose sessions it may touch. */
          user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The largest request body the HTTP server reads (artifacts have their own cap). @default 4194304 (4 MiB) */
    bodyLimitBytes: Type.Integer({ minimum: 1 }),
    /** The largest artifact one PUT may store. @default 104857600 (100 MiB) */
    maxArtifactBytes: Type.Integer({ minimum: 1 }),
    /**
     * A page of sessions or events stops growing once its JSON passes this many bytes, and names
     * its next cursor: a page of sessions with megabyte tasks or contexts, or of megabyte events,
     * neither holds the server's event loop while it is encoded nor floods the client. A page
     * always holds at least one item. @default 8388608 (8 MiB)
     */
    maxPageBytes: Type.Integer({ minimum: 1 }),
    /**
     * The most bytes the answers of one POST to /mcp may hold together (a JSON-RPC batch of
     * resource reads, each a page of up to maxPageBytes): its messages are answered one at a time,
     * and those after the budget is spent get an error saying to send fewer at once, so that a
     * small request cannot make the server hold a batch of pages at once. @default 16777216 (16 MiB)
     */
    mcpMaxAnswerBytes: Type.Integer({ minimum: 1 }),
    /**
     * The most POSTs to /mcp one token may have under way at once; more answer 429. With
     * mcpMaxAnswerBytes it bounds what one token's MCP requests make the server hold (a request
     * side by side with others would otherwise have a budget of its own). @default 4
     */
    mcpMaxConcurrentPerToken: Type.Integer({ minimum: 1 }),
    /**
     * The most bytes a checkpoint `with_files` may find in a workspace (the files' sizes, a sparse
     * file counted whole); past it the checkpoint is refused (413 snapshot_too_large) before
     * anything is written. docs/checkpoints.md#size-cap. @default 1073741824 (1 GiB)
     */
    maxSnapshotBytes: Type.Integer({ minimum: 1 }),
    /**
     * Paths of a workspace that checkpoints `with_files` leave out, in gitignore syntax, besides
     * those in the workspace's own `.sessiondignore` (docs/checkpoints.md#ignore-rules). A restore
     * leaves what matches as it finds it. @default []
     */
    snapshotIgnore: Type.Array(Type.String({ minLength: 1, maxLength: 4096 })),
    /**
     * Whether each blob a workspace snapshot writes is fsynced before it is named: true keeps
     * snapshots whole through a power loss; false only through a crash of the process (a blob is
     * still never named before it is complete), at a fraction of the cost on many small files.
     * @default true
     */
    snapshotFsync: Type.Boolean(),
    /**
     * Whether workspace snapshots learn from the kernel (inotify, through a small python3
     * helper run with pythonPath) which folders changed since the workspace's last snapshot, and
     * list only those: a snapshot after a few changes then costs about what the changes cost,
     * not a stat of every file. Without python3 or inotify watches to spare, every snapshot walks
     * the whole workspace, as with false. Writes through a shared memory map raise no event: see
     * docs/checkpoints.md#change-tracking. @default true
     */
    snapshotChangeTracking: Type.Boolean(),
    /**
     * How many entries (files, folders, links) of tracked workspaces change tracking keeps in
     * memory, all workspaces together (some hundred bytes each); past it the workspace least
     * recently snapshotted is let go, and its next snapshot walks it whole. @default 250000
     */
    snapshotTrackedEntries: Type.Integer({ minimum: 1 }),
    /**
     * The longest a tracked workspace goes without a whole walk: its first snapshot after that
     * long lists every folder again. It bounds how long a change that raises no inotify event (a
     * write through a shared memory map after the file was closed, or through a hard link made
     * outside the workspace) can go unseen. docs/checkpoints.md#change-tracking. @default 600000 (10 min)
     */
    snapshotFullWalkMs: Type.Integer({ minimum: 0 }),
    /** How long a snapshot waits for the change-tracking helper to answer before it walks the whole workspace. @default 5000 */
    snapshotTrackerTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * How long the server keeps reading, and dropping, the rest of an upload it refused (over
     * `maxArtifactBytes` or `bodyLimitBytes`, or any other error) after answering it: a socket closed with unread bytes
     * is reset, and a client still sending would lose the answer with it. The connection stays
     * usable when the body ends within this time; past it, it is closed. @default 10000
     */
    refusedUploadDrainMs: Type.Integer({ minimum: 0 }),
    /** Requests one client (token, or the Unix socket) may make per `rateLimitWindowMs`; 0 turns the limit off. @default 60000 */
    rateLimitMax: Type.Integer({ minimum: 0 }),
    /** The window `rateLimitMax` counts over. @default 60000 (1 minute) */
    rateLimitWindowMs: Type.Integer({ minimum: 1 }),
    /**
     * Failed bearer-token attempts over TCP (token missing, malformed or unknown) one client
     * address may make per `authFailureWindowMs`. Past it, every further failure from that address
     * is answered 429 (`rate_limited`, with `Retry-After`) until the window that began with its first
     * failure ends; a valid token still passes (see docs/api.md, why). Successful requests and the Unix socket are not
     * counted. IPv6 clients count per /64. 0 turns it off.
     * @default 20
     */
    authMaxFailures: Type.Integer({ minimum: 0 }),
    /** The window `authMaxFailures` counts over, from an address's first failure. @default 60000 (1 minute) */
    authFailureWindowMs: Type.Integer({ minimum: 1 }),
    /**
     * Client addresses whose failures are remembered at once; past it the least recently seen is
     * forgotten, so an attacker with many addresses cannot grow the server's memory. @default 10000
     */
    authFailureMaxAddresses: Type.Integer({ minimum: 1 }),
    /**
     * How long a one-time login code of `sessiond ui` (`POST /ui/login-codes`) may be exchanged for
     * a dashboard token; it works once. @default 60000 (1 minute)
     */
    uiLoginCodeTtlMs: Type.Integer({ minimum: 1 }),
    /**
     * How long a dashboard token obtained with a login code (`POST /ui/login`) is accepted. Such
     * tokens live in the server's memory only: a restart signs every dashboard out.
     * @default 43200000 (12 hours)
     */
    uiSessionTtlMs: Type.Integer({ minimum: 1 }),
    /**
     * Login codes one principal (a token, or the local admin) may hold unexchanged at once. Past it
     * `POST /ui/login-codes` answers 429 (`rate_limited`) until one is used or expires; no other
     * principal's codes are touched. @default 20
     */
    uiMaxLoginCodesPerPrincipal: Type.Integer({ minimum: 1 }),
    /**
     * Dashboard tokens made from one principal's codes that live at once; a new one signs out that
     * principal's oldest, never another principal's. @default 50
     */
    uiMaxSessionsPerPrincipal: Type.Integer({ minimum: 1 }),
    /**
     * Login codes held unexchanged over all principals. Past it new codes are refused (429) rather
     * than anyone's forgotten. @default 1000
     */
    uiMaxLoginCodes: Type.Integer({ minimum: 1 }),
    /**
     * Dashboard tokens held over all principals. Past it an exchange is refused (429, the code
     * stays good) rather than anyone signed out. @default 10000
     */
    uiMaxSessions: Type.Integer({ minimum: 1 }),
    /**
     * Browser origins (`https://sessiond.example.com`, scheme, host and port) whose pages may call
     * the API besides the server's own. A request carrying an `Origin` header that is neither is
     * refused 403 (docs/security.md#requests-from-other-sites); list here the address a proxy in
     * front of sessiond serves the dashboard at when that proxy changes the `Host` header. @default []
     */
    allowedOrigins: Type.Array(Type.String({ pattern: "^https?://[^\\s/?#]+$", maxLength: 2048, "x-expected": "an origin: http:// or https://, a host and an optional port, no path" })),
    /**
     * Sessions that ended (completed, failed, timeout) more than this many days ago are deleted
     * with their artifacts by a periodic job (seed 004's auto-cleanup); 0 turns it off.
     * @default 0
     */
    retentionDays: Type.Number({ minimum: 0 }),
    /** How often the retention job runs. @default 3600000 (1 hour) */
    retentionIntervalMs: Type.Integer({ minimum: 1000 }),
    /**
     * This node's name in a cluster of nodes sharing one PostgreSQL schema (docs/scale-out.md): the
     * `x-sessiond-node` header of every answer and the reason of a session crashed with it.
     * Env `SESSIOND_NODE_NAME`. @default the host name and the port it listens on (`host:port`)
     */
    nodeName: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: "^[\\x21-\\x7e]+$" })),
    /**
     * The base URL the other nodes forward requests for this node's sessions to (PostgreSQL store
     * only). Env `SESSIOND_ADVERTISE_URL`. @default http://<the address it listens on>:<port>
     * (the host name when it listens on every address)
     */
    advertiseUrl: Type.Optional(Type.String({ pattern: "^https?://[^\\s/]+/?$", maxLength: 2048 })),
    /**
     * How long a node's ownership of its sessions lasts without renewal (PostgreSQL store): once
     * it runs out (by the database's clock) another node may take them over, and a live session of
     * the silent node is marked crashed. @default 5000
     */
    leaseTtlMs: Type.Integer({ minimum: 200, maximum: 600_000 }),
    /** How often a node renews its lease; must be under a third of `leaseTtlMs`. @default 1000 */
    leaseRenewMs: Type.Integer({ minimum: 50 }),
    /**
     * How often a node reads the events other nodes committed when no notification came
     * (PostgreSQL LISTEN/NOTIFY is the fast path; this is the floor of cross-node feed latency
     * when notifications are lost). @default 1000
     */
    clusterPollMs: Type.Integer({ minimum: 10 }),
    /** How long connecting to another node may take when forwarding a request to it. @default 2000 */
    forwardConnectTimeoutMs: Type.Integer({ minimum: 1 }),
    /** How long shutdown waits for in-flight requests before closing anyway. @default 10000 */
    shutdownTimeoutMs: Type.Integer({ minimum: 0 }),
    /**
     * How long an SDK/CLI request (`sessiond/client`) may take, connect to last byte, before it
     * fails. Longer than `execTimeoutMs` so an exec that times out still answers. Env
     * `SESSIOND_CLIENT_TIMEOUT_MS`. @default 60000
     */
    clientTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * SDK feed and stream iterators (`sessiond/client`): the first delay before reconnecting after
     * a dropped connection or a slow-consumer cutoff; it doubles (with jitter) per failed attempt,
     * up to `clientReconnectMaxMs`. @default 100
     */
    clientReconnectBaseMs: Type.Integer({ minimum: 1 }),
    /** The longest delay between two reconnect attempts of an SDK iterator. @default 5000 */
    clientReconnectMaxMs: Type.Integer({ minimum: 1 }),
    /** Reconnect attempts in a row (without a message between them) before an SDK iterator gives up and throws. @default 10 */
    clientReconnectAttempts: Type.Integer({ minimum: 0 }),
    /**
     * How long a CLI command waits for the server it starts in the background (none was running)
     * to answer on its socket before giving up and pointing at the server log. @default 15000
     */
    autostartTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * How long a process taking the data dir's owner lock waits for one that only looks at it;
     * an owner that holds it is never waited for. @default 1000
     */
    ownerLockWaitMs: Type.Integer({ minimum: 0 }),
    /** How often the owner of a data dir puts back its lock file or record if they were removed by hand. @default 5000 */
    ownerLockCheckMs: Type.Integer({ minimum: 10 }),
    /**
     * How long the embedded API in a process that does not own the data dir waits for the
     * owner's answer (a write, a synchronous call) before failing with an error naming the owner. @default 30000
     */
    ownerRequestTimeoutMs: Type.Integer({ minimum: 1 }),
    /**
     * Connections the owner's write channel (`owner.sock`) holds at once; past it a new one is
     * closed as it arrives. Each process that sends its writes to the owner holds one or two.
     * @default 256
     */
    ownerMaxConnections: Type.Integer({ minimum: 1 }),
    /**
     * Calls one connection to the owner's write channel may have started and not yet answered;
     * at the cap the owner reads no more from it until one is answered. @default 32
     */
    ownerMaxCallsInFlight: Type.Integer({ minimum: 1 }),
    /**
     * Answers the owner may hold for one connection to its write channel that does not read
     * them (its socket buffer) before it closes that connection. It starts no new call on a
     * connection whose answers wait, so this only has to hold the answers of the calls in flight:
     * keep it above `ownerMaxCallsInFlight` times the largest answer (a session, context and
     * all). @default 67108864 (64 MiB)
     */
    ownerMaxBufferedBytes: Type.Integer({ minimum: 1024 }),
    /** How often `sessiond events|trace|logs --follow` asks for new events when no stream route answers. @default 500 */
    followPollMs: Type.Integer({ minimum: 1 }),
    /** Lines of `sessiond repl` input history kept across runs (in the data dir). @default 1000 */
    replHistoryLines: Type.Integer({ minimum: 0 }),
    /** The largest WebSocket message the server accepts (feeds, streams, attach); a bigger one closes that socket. @default 1048576 (1 MiB) */
    wsMaxPayloadBytes: Type.Integer({ minimum: 1024 }),
    /** The largest piece of exec output kept as one row of the output log (streams coalesce smaller chunks up to it). @default 65536 */
    outputMaxChunkBytes: Type.Integer({ minimum: 1024 }),
    /**
     * Unsent bytes a stream or feed subscriber may have queued (socket buffer, or live messages held
     * while its backlog is read) before it is cut off as a slow consumer; it may resume from its
     * cursor. @default 8388608 (8 MiB)
     */
    feedMaxBufferedBytes: Type.Integer({ minimum: 1024 }),
    /** How often an idle SSE stream or feed gets a comment line, so proxies keep it open. @default 15000 */
    streamHeartbeatMs: Type.Integer({ minimum: 1 }),
    /**
     * Streams (SSE or WebSocket on `/feed`, `/sessions/{id}/stream`, `/sessions/{id}/attach`) one
     * token may hold open at once; one more is refused with `rate_limited` (429) before it starts.
     * Each holds a file descriptor: the cap keeps one token from using them all up. The Unix socket
     * (the operator) is not counted. 0 turns the cap off. @default 64
     */
    maxStreamsPerPrincipal: Type.Integer({ minimum: 0 }),
    /**
     * How long live global-feed events wait to be sent together: every client then gets one frame
     * per interval instead of one per commit (fewer writes under heavy ingest). @default 5
     */
    feedFlushIntervalMs: Type.Integer({ minimum: 0 }),
    /** Recent terminal output kept per attached shell, replayed to a late joiner. @default 1048576 (1 MiB) */
    attachReplayBytes: Type.Integer({ minimum: 1024 }),
    /**
     * The longest terminal output of an attached shell waits to be sent together, counted from
     * the previous send: output after a quiet spell (an echoed keystroke) goes at once, a flood
     * goes in frames of this many ms each (one write per client instead of one per PTY read). @default 5
     */
    attachBatchMs: Type.Integer({ minimum: 0 }),
    /** Unsent bytes on the driver's socket above which the PTY is paused (resumed below half). @default 262144 */
    attachDriverHighWaterBytes: Type.Integer({ minimum: 1024 }),
    /** Unsent bytes an attach observer may fall behind before it is cut off (it resumes from its offset). @default 8388608 (8 MiB) */
    attachObserverMaxBufferedBytes: Type.Integer({ minimum: 1024 }),
    /**
     * The built dashboard served at `/ui` (docs/ui.md): a folder holding `index.html` and
     * `assets/`. Empty: the package's own `dist/ui`, which `npm run build` writes. @default ""
     */
    uiDir: Type.String(),
    /** pino log level of the server. Env `SESSIOND_LOG_LEVEL`. @default "info" */
    logLevel: Type.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l))),
  },
  { additionalProperties: false },
);

/** The resolved, validated, frozen configuration. */
export type Config = Readonly<Static<typeof ConfigSchema>>;

/** Where each source of configuration comes from; every part is optional. */
export interface ConfigSources {
  /** Parsed contents of the config file. */
  file?: Record<string, unknown>;
  /** The environment (passed in, so tests can inject it). */
  env?: Record<string, string | undefined>;
  /** Command-line flags, already parsed. */
  flags?: Record<string, unknown>;
}

/** The defaults, given the user's home directory. */
export function defaultConfig(userHome: string): Static<typeof ConfigSchema> {
  return {
    home: join(userHome, DEFAULT_HOME_DIR),
    store: "sqlite",
    pgPoolSize: 10,
    pgConnectTimeoutMs: 5000,
    redisChannel: "events:session",
    redisMaxQueuedMessages: 10_000,
    redisCommandTimeoutMs: 5000,
    webhooks: [],
    webhookMaxAttempts: 12,
    webhookBackoffBaseMs: 1000,
    webhookBackoffMaxMs: 600_000,
    webhookTimeoutMs: 10_000,
    webhookMaxConcurrency: 8,
    webhookFlushIntervalMs: 10,
    webhookMaxBufferedEvents: 10_000,
    webhookPollIntervalMs: 5000,
    webhookDrainTimeoutMs: 5000,
    webhookLogRetentionMs: 604_800_000,
    webhookLogPruneIntervalMs: 3_600_000,
    webhookAllowHosts: [],
    sqliteSynchronous: "normal",
    sqliteBusyTimeoutMs: 5000,
    sqliteCacheBytes: 16 * MiB,
    sqliteCheckpointPages: 10_000,
    hotPoolSize: 10_000,
    maxContextBytes: MiB,
    maxEventBytes: 4 * MiB,
    maxCommitBatch: 20_000,
    defaultMaxIterations: 50,
    recentHistoryLength: 10,
    defaultPageSize: 50,
    listScanRows: DEFAULT_LIST_SCAN_ROWS,
    enableSessions: false,
    executionModes: {},
    driverModules: [],
    execRoles: ["admin"],
    execTimeoutMs: 30_000,
    maxExecTimeoutMs: 3_600_000,
    maxExecOutputBytes: MiB,
    backgroundOutputBytesPerSecond: MiB / 4,
    maxExecInputBytes: 256 * 1024,
    maxQueuedExecs: 100,
    maxQueuedExecBytes: 64 * MiB,
    idleTimeoutMs: 1_800_000,
    hibernateAfterMs: 0,
    maxLifetimeMs: 86_400_000,
    reaperIntervalMs: 5_000,
    maxLiveSessions: 256,
    maxLiveSessionsPerAgent: 64,
    autoRecover: false,
    startTimeoutMs: 10_000,
    stopGraceMs: 2_000,
    interruptGraceMs: 2_000,
    stateSyncMs: 1_000,
    ssh: { port: SSH_DEFAULT_PORT },
    shellPath: "bash",
    shellEnv: ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SHELL"],
    saveSecretEnv: [],
    shellMaxProcesses: 4096,
    shellCgroup: true,
    sandbox: "bwrap",
    sandboxNetwork: true,
    allowReachableDatabase: false,
    sandboxUidBase: 200_000,
    sandboxUidCount: 65_536,
    sandboxUidClaimDir: "/run/sessiond/uids",
    sandboxReadOnlyPaths: [],
    sessionMemoryBytes: 2 * 1024 * MiB,
    sessionCpus: 1,
    sessionsMemoryPercent: 75,
    sessionDiskBytes: 10 * 1024 * MiB,
    diskCheckIntervalMs: 30_000,
    ptyCols: 120,
    ptyRows: 30,
    pythonPath: "python3",
    typescriptTypecheck: false,
    llmBaseUrl: "https://api.openai.com/v1",
    llmModel: "gpt-4o-mini",
    llmSystemPrompt: "",
    llmHistoryTokens: 8000,
    llmStream: true,
    llmMaxAttempts: 3,
    llmBackoffBaseMs: 500,
    llmBackoffMaxMs: 10_000,
    llmRequestTimeoutMs: 30_000,
    llmPrices: {},
    host: DEFAULT_HOST,
    port: DEFAULT_PORT,
    auth: true,
    tokens: [],
    bodyLimitBytes: 4 * MiB,
    maxPageBytes: 8 * MiB,
    mcpMaxAnswerBytes: 16 * MiB,
    mcpMaxConcurrentPerToken: 4,
    maxArtifactBytes: 100 * MiB,
    refusedUploadDrainMs: 10_000,
    maxSnapshotBytes: 1024 * MiB,
    snapshotIgnore: [],
    snapshotFsync: true,
    snapshotChangeTracking: true,
    snapshotTrackedEntries: 250_000,
    snapshotTrackerTimeoutMs: 5000,
    snapshotFullWalkMs: 600_000,
    rateLimitMax: 60_000,
    rateLimitWindowMs: 60_000,
    authMaxFailures: 20,
    authFailureWindowMs: 60_000,
    authFailureMaxAddresses: 10_000,
    uiLoginCodeTtlMs: 60_000,
    uiSessionTtlMs: 12 * 3_600_000,
    uiMaxLoginCodesPerPrincipal: 20,
    uiMaxSessionsPerPrincipal: 50,
    uiMaxLoginCodes: 1000,
    uiMaxSessions: 10_000,
    allowedOrigins: [],
    retentionDays: 0,
    retentionIntervalMs: 3_600_000,
    leaseTtlMs: 5000,
    leaseRenewMs: 1000,
    clusterPollMs: 1000,
    forwardConnectTimeoutMs: 2000,
    shutdownTimeoutMs: 10_000,
    clientTimeoutMs: DEFAULT_CLIENT_TIMEOUT_MS,
    clientReconnectBaseMs: 100,
    clientReconnectMaxMs: 5_000,
    clientReconnectAttempts: 10,
    autostartTimeoutMs: 15_000,
    ownerLockWaitMs: 1000,
    ownerLockCheckMs: 5000,
    ownerRequestTimeoutMs: 30_000,
    ownerMaxConnections: 256,
    ownerMaxCallsInFlight: 32,
    ownerMaxBufferedBytes: 64 * MiB,
    followPollMs: 500,
    replHistoryLines: 1000,
    wsMaxPayloadBytes: MiB,
    outputMaxChunkBytes: 64 * 1024,
    feedMaxBufferedBytes: 8 * MiB,
    streamHeartbeatMs: 15_000,
    maxStreamsPerPrincipal: 64,
    feedFlushIntervalMs: 5,
    attachReplayBytes: MiB,
    attachBatchMs: 5,
    attachDriverHighWaterBytes: 256 * 1024,
    attachObserverMaxBufferedBytes: 8 * MiB,
    uiDir: "",
    logLevel: "info",
  };
}

/** The port of `server: "ssh"` sessions when neither the request nor config `ssh.port` gives one. */
export const SSH_DEFAULT_PORT = 22;

/** Where on an ssh host a session makes its runtime folder when config `ssh.runtimeDir` gives none. */
export const SSH_DEFAULT_RUNTIME_DIR = "/tmp";

/** `SESSIOND_<KEY IN UPPER SNAKE CASE>` for every option, e.g. `SESSIOND_HOT_POOL_SIZE`. */
export function envName(key: string): string {
  return `SESSIOND_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export { ENV_ALIASES } from "./defaults.js";

/**
 * Merges defaults < file < env < flags, coerces env strings to the option's type, validates
 * (unknown keys refused, naming the key) and deep-freezes.
 */
export function resolveConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  const merged: Record<string, unknown> = { ...defaultConfig(env.HOME ?? "/tmp"), ...sources.file };
  for (const key of Object.keys(ConfigSchema.properties)) {
    const alias = ENV_ALIASES[key];
    const value = env[envName(key)] || (alias === undefined ? undefined : env[alias]);
    if (value !== undefined && value !== "") merged[key] = value;
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) if (value !== undefined) merged[key] = value;
  // Conversion and freezing work in place: on a copy, so the caller's objects stay theirs.
  const converted = Value.Convert(ConfigSchema, structuredClone(merged));
  const config = validate(ConfigSchema, converted, "config");
  // A lease renewed less often than this could run out between two renewals that were merely late.
  if (config.leaseRenewMs * 3 > config.leaseTtlMs) {
    throw errors.validation("config.leaseRenewMs", `must be at most a third of leaseTtlMs (${config.leaseTtlMs}): ${config.leaseRenewMs} is not`);
  }
  return deepFreeze(config);
}

/** The files and folders inside the data dir (DESIGN.md §8). */
export function dataPaths(config: Pick<Config, "home">) {
  return {
    database: join(config.home, "sessiond.db"),
    token: join(config.home, DATA_FILES.token),
    socket: join(config.home, DATA_FILES.socket),
    /** Where the owner takes the embedded API's writes from processes that do not own the data dir. */
    ownerSocket: join(config.home, "owner.sock"),
    workspaces: join(config.home, "workspaces"),
    /** Workspace snapshots' content-addressed blobs: `blobs/sha256/<2 hex>/<62 hex>` (docs/checkpoints.md#storage). */
    blobs: join(config.home, "blobs"),
    /** What holds workspace snapshots: references by session (`refs/<session id>/<key>`). */
    snapshots: join(config.home, "snapshots"),
    log: join(config.home, "server.log"),
    /** Who owns the data dir: pid, command, where it answers (written by the owner, server or embedded). */
    pid: join(config.home, "server.pid"),
    /** Held (an OS lock) by the one process that owns the data dir's store. */
    ownerLock: join(config.home, "owner.lock"),
    /** Held (O_EXCL) by the CLI command that is starting a server in the background. */
    autostartLock: join(config.home, "autostart.lock"),
    /** `sessiond repl`'s input history. */
    replHistory: join(config.home, "repl_history"),
  } as const;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
