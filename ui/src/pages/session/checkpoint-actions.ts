import { useState } from "preact/hooks";
import { describeError } from "../../api/client.js";
import { fork, restore } from "../../api/sessions.js";
import type { Checkpoint, Session } from "../../api/types.js";
import { hrefOf, navigate } from "../../router.js";

/** Restore and fork of a session's checkpoints, and what came of the last one, for the views that offer them. */
export interface CheckpointActions {
  restore(c: Checkpoint): Promise<void>;
  fork(c: Checkpoint): Promise<void>;
  readonly busy: boolean;
  readonly error: unknown;
  readonly notice: string | undefined;
}

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
  return {
    busy,
    error,
    notice,
    async restore(c) {
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
    },
    async fork(c) {
      if (!session) return;
      setBusy(true);
      try {
        const child = await fork(session.id, c.id);
        navigate(hrefOf({ page: "session", id: child.id }));
      } catch (err) {
        setError(new Error(`Fork failed: ${describeError(err)}`));
        setBusy(false);
      }
    },
  };
}
