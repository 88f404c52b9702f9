import { useState } from "preact/hooks";
import { bytes } from "../../format.js";
import { SETTINGS } from "../../settings.js";

/**
 * Command or cell output as plain text (escape sequences and markup shown as characters, never
 * interpreted), cut to `jsonMaxRenderChars` with a way to see the rest when it is not huge.
 */
export function OutputText({ text, label, tone }: { text: string; label: string; tone?: "error" }) {
  const [whole, setWhole] = useState(false);
  if (text === "") return null;
  const cut = text.length > SETTINGS.jsonMaxRenderChars && !whole;
  return (
    <>
      <pre class={tone === "error" ? "output stderr" : "output"} aria-label={label}>
        {cut ? text.slice(0, SETTINGS.jsonMaxRenderChars) : text}
      </pre>
      {cut && (
        <p class="note">
          Showing {bytes(SETTINGS.jsonMaxRenderChars)} of {bytes(text.length)}.{" "}
          {text.length <= SETTINGS.jsonMaxRenderChars * 10 && (
            <button type="button" class="link" onClick={() => setWhole(true)}>
              Show all
            </button>
          )}
        </p>
      )}
    </>
  );
}
