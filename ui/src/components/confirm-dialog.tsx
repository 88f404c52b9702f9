import { useEffect, useRef } from "preact/hooks";
import type { ComponentChildren } from "preact";

/**
 * A modal confirmation (the native <dialog>: focus moves into it, Escape cancels, the page behind
 * is inert). Confirm runs the action; Cancel or Escape closes it.
 */
export function ConfirmDialog(props: { title: string; children: ComponentChildren; onConfirm(): void; onCancel(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => (e.preventDefault(), props.onCancel())}>
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div class="actions">
        <button type="button" class="danger" onClick={props.onConfirm}>
          Confirm
        </button>
        <button type="button" onClick={props.onCancel} autoFocus>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
