import { useState } from "preact/hooks";
import { describeError } from "../../api/client.js";
import { fork, restore } from "../../api/sessions.js";
import type { Checkpoint, Session } from "../../api/types.js";
import { hrefOf, navigate } from "../../router.js";

/** A restore or fork asked for and waiting for the person to confirm it. */
export interface PendingCheckpointAction {
  readonly action: "restore" | "fork";
  readonly checkpoint: Checkpoint;
}

/**
 * Restore and fork of a session's checkpoints, and what came of the last one, for the views that
 * offer them. `restore` and `fork` only ask: the action runs once `confirm` is called (the page
 * shows CheckpointConfirm for `pending`), as a restore rewrites the context and a fork opens
 * another session's page.
 */
export interface CheckpointActions {
  restore(c: Checkpoint): void;
  fork(c: Checkpoint): void;
  /** The action waiting for confirmation, if any. */
  readonly pending: PendingCheckpointAction | undefined;
  confirm(): Promise<void>;
  cancel(): void;
  readonly busy: boolean;
  readonly error: unknown;
  readonly notice: string | undefined;
}

/** Why Restore is off for a session that ended (its tooltip): a finished session is never rewound. */
export const NO_RESTORE_WHEN_ENDED = "A completed, failed or timed-out session cannot be restored; Fork starts a new session from this checkpoint.";

/** A checkpoint's name as the page shows it. */
export function checkpointName(c: Checkpoint): string {
  return c.label ?? `at event ${c.seq}`;
}

/**
 * Restore (rewinds the context and iterations; history is kept) and fork (a new session from
 * that point, whose page opens at once), shared by the Checkpoints region and the timeline.
 */
export function useCheckpointActions(session: Session | undefined, onChanged: () => void): CheckpointActions {
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<PendingCheckpointAction>();
  const runRestore = async (c: Checkpoint) => {
    if (!session) return;
    setBusy(true);
    try {
      await restore(session.id, c.id);
      setNotice(`Restored ${checkpointName(c)}.`);
      setError(undefined);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const runFork = async (c: Checkpoint) => {
    if (!session) return;
    setBusy(true);
    try {
      const child = await fork(session.id, c.id);
      navigate(hrefOf({ page: "session", id: child.id }));
    } catch (err) {
      setError(new Error(`Fork failed: ${describeError(err)}`));
      setBusy(false);
    }
  };
  return {
    busy,
    error,
    notice,
    pending,
    restore: (checkpoint) => setPending({ action: "restore", checkpoint }),
    fork: (checkpoint) => setPending({ action: "fork", checkpoint }),
    cancel: () => setPending(undefined),
    async confirm() {
      if (!pending) return;
      setPending(undefined);
      await (pending.action === "restore" ? runRestore(pending.checkpoint) : runFork(pending.checkpoint));
    },
  };
}
