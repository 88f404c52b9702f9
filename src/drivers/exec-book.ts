import type { ExecResult } from "./exec-result.js";

/** Where an exec is: waiting in the session's queue, running, or finished (its result kept for a while). */
export type ExecState = "queued" | "running" | "finished";

/** What {@link ExecBook} knows of one exec. */
export interface ExecEntry {
  readonly exec_id: string;
  state: ExecState;
  result?: ExecResult;
  /** Started with `stdin: true`: its stdin is the terminal. */
  readonly stdin: boolean;
}

/**
 * The execs of one live session by id, so that stdin, interrupt and kill can name one, and a
 * client that did not wait (`wait: false`) can fetch its result. Finished execs are forgotten
 * oldest first past `keepFinished` (their results stay in the `exec` events).
 */
export class ExecBook {
  private readonly execs = new Map<string, ExecEntry>();
  private readonly finished: string[] = [];

  constructor(private readonly keepFinished: number) {}

  add(execId: string, stdin: boolean): ExecEntry {
    const entry: ExecEntry = { exec_id: execId, state: "queued", stdin };
    this.execs.set(execId, entry);
    return entry;
  }

  get(execId: string): ExecEntry | undefined {
    return this.execs.get(execId);
  }

  running(execId: string): void {
    const entry = this.execs.get(execId);
    if (entry) entry.state = "running";
  }

  /** The exec ended (with a result, or refused before it ran: then it is forgotten). */
  finish(execId: string, result?: ExecResult): void {
    const entry = this.execs.get(execId);
    if (!entry) return;
    if (!result) {
      this.execs.delete(execId);
      return;
    }
    entry.state = "finished";
    entry.result = result;
    this.finished.push(execId);
    while (this.finished.length > this.keepFinished) this.execs.delete(this.finished.shift()!);
  }
}
