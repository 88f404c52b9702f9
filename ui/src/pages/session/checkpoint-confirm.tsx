import { ConfirmDialog } from "../../components/confirm-dialog.js";
import { type CheckpointActions, checkpointName } from "./checkpoint-actions.js";

/**
 * The confirmation of a restore or fork asked for from the Checkpoints region or the timeline:
 * what it will do, named on its button. Nothing is shown while none is pending.
 */
export function CheckpointConfirm({ actions }: { actions: CheckpointActions }) {
  const { pending } = actions;
  if (!pending) return null;
  const name = checkpointName(pending.checkpoint);
  const restoring = pending.action === "restore";
  return (
    <ConfirmDialog
      title={restoring ? `Restore checkpoint ${name}?` : `Fork checkpoint ${name}?`}
      confirmLabel={restoring ? "Restore" : "Fork"}
      danger={restoring}
      onConfirm={() => void actions.confirm()}
      onCancel={actions.cancel}
    >
      <p>
        {restoring
          ? `The context and iterations go back to what they were at event #${pending.checkpoint.seq}. The history is kept: the restore is added to the timeline.`
          : "A new session starts from this checkpoint's context and iterations, and its page opens. This session is not changed."}
      </p>
    </ConfirmDialog>
  );
}
