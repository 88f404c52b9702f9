import { useMemo, useState } from "preact/hooks";
import { SETTINGS } from "../settings.js";
import { bytes } from "../format.js";

/** Pretty JSON, or the text itself when it cannot be written as JSON. */
function pretty(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * A JSON value as text (escaped by Preact: markup in it is never markup). Short values show
 * open; long ones start collapsed behind a summary and render only once opened; and none renders
 * more than `jsonMaxRenderChars` characters — an event of a megabyte shows its beginning and its
 * size, never the whole text in the page.
 */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  const text = useMemo(() => pretty(value), [value]);
  const large = text.length > SETTINGS.jsonCollapseChars;
  const [open, setOpen] = useState(!large);
  const [whole, setWhole] = useState(false);
  if (!large) return <pre class="json" aria-label={label}>{text}</pre>;
  const cut = text.length > SETTINGS.jsonMaxRenderChars && !whole;
  const shown = cut ? text.slice(0, SETTINGS.jsonMaxRenderChars) : text;
  const size = bytes(new Blob([text]).size);
  return (
    <details class="json-large" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        {label}: {size} of JSON{open ? "" : " (collapsed)"}
      </summary>
      {open && (
        <>
          <pre class="json" aria-label={label}>{shown}</pre>
          {cut && (
            <p class="note">
              Showing the first {bytes(SETTINGS.jsonMaxRenderChars)} of {size}.{" "}
              {text.length <= SETTINGS.jsonMaxRenderChars * 10 && (
                <button type="button" class="link" onClick={() => setWhole(true)}>
                  Show all
                </button>
              )}
            </p>
          )}
        </>
      )}
    </details>
  );
}
