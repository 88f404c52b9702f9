/**
 * Live surfaces on the engine: per-session streams (events + exec output, resumable), the global
 * feed, and (attach-hub.ts) shared terminals. Built once per server by `StreamServices`.
 */
import type { Config } from "../../core/index.js";
import { OutputLog, type SessionManager } from "../../engine/index.js";
import type { Store } from "../../store/index.js";
import { AttachHub, type TerminalSource } from "./attach-hub.js";
import { FeedHub } from "./global-feed.js";
import type { StreamDeps } from "./session-stream.js";

export { AttachHub, type TerminalSource } from "./attach-hub.js";
export { FeedHub, type FeedFilter, matches, parseFeedAfter } from "./global-feed.js";
export { deletedMessage, eventMessage, feedMessage, outputMessage, readyMessage, streamCursor } from "./messages.js";
export { type EndReason, Outlet, type OutletMessage, SLOW_CONSUMER_CODE, type Sink } from "./outlet.js";
export {
  SessionStream,
  type StreamDeps,
  type StreamPlan,
  type StreamQuery,
  optionalInt,
  optionalString,
  parseStreamQuery,
  planStream,
} from "./session-stream.js";
export { SseSink, WebSocketSink } from "./sinks.js";
export { ATTACH_BAD_FRAME_CODE, type AttachRole, type JoinOptions, type ShareLimits, TerminalShare } from "./terminal-share.js";

/** A source of exec output chunks (LiveSessions#onOutput). */
export type OutputSource = (listener: (chunk: { session_id: string; exec_id: string; stream: "stdout" | "stderr"; offset: number; data: Buffer }) => void) => () => void;

/** What the stream services need. */
export interface StreamServicesOptions {
  readonly config: Config;
  readonly manager: SessionManager;
  readonly store: Store;
  /** Where exec output comes from; every chunk is persisted to the output log. */
  readonly outputSource: OutputSource;
  /** Live shells' terminals, for attach. */
  readonly terminals: TerminalSource;
  readonly onError?: (err: unknown, what: string) => void;
}

/**
 * The server's stream machinery: the persisted exec-output log (fed from the live sessions), the
 * global feed hub, and the set of open streams to end at shutdown.
 */
export class StreamServices {
  readonly output: OutputLog;
  readonly feed: FeedHub;
  readonly attach: AttachHub;
  readonly deps: StreamDeps;
  /** Ends of the open per-session streams and attach sockets, called at shutdown. */
  readonly closers = new Set<(code: number, reason: string) => void>();
  private readonly stopOutput: () => void;

  constructor(options: StreamServicesOptions) {
    const { config, manager, store } = options;
    const onError = options.onError ?? (() => {});
    this.output = new OutputLog({
      store,
      maxChunkBytes: config.outputMaxChunkBytes,
      onError: (err, pieces) => onError(err, `writing ${pieces} piece(s) of exec output`),
    });
    this.stopOutput = options.outputSource((chunk) => this.output.append(chunk));
    this.feed = new FeedHub(store, manager, config.feedMaxBufferedBytes, config.feedFlushIntervalMs, (err) => onError(err, "reading the feed"), config.clusterPollMs);
    this.attach = new AttachHub(options.terminals, manager.bus, {
      replayBytes: config.attachReplayBytes,
      batchMs: config.attachBatchMs,
      driverHighWaterBytes: config.attachDriverHighWaterBytes,
      observerMaxBufferedBytes: config.attachObserverMaxBufferedBytes,
    });
    this.deps = { manager, store, output: this.output, maxBufferedBytes: config.feedMaxBufferedBytes };
  }

  /** Ends every client with 1001 (shutting_down). */
  endClients(): void {
    this.feed.close(1001, "shutting_down");
    this.attach.close(1001, "shutting_down");
    for (const close of [...this.closers]) close(1001, "shutting_down");
  }

  /** Persists the output still queued. Call after the live sessions stopped (their last output is in). */
  async close(): Promise<void> {
    this.endClients();
    this.stopOutput();
    await this.output.close();
  }
}
