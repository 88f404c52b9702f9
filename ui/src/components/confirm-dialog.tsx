import { useEffect, useRef } from "preact/hooks";
import type { ComponentChildren } from "preact";

/**
 * A modal confirmation (the native <dialog>: focus moves into it, Escape cancels, the page behind
 * is inert). The confirm button runs the action; Cancel or Escape closes it.
 */
export function ConfirmDialog(props: {
  title: string;
  children: ComponentChildren;
  /** The confirm button's text: what it does ("Pause 3 sessions"), not "Confirm". */
  confirmLabel: string;
  /** Styled as a destructive action. @default true */
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
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
        <button type="button" class={props.danger === false ? undefined : "danger"} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
        <button type="button" onClick={props.onCancel} autoFocus>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
