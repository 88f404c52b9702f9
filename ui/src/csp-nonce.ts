/**
 * The page's Content-Security-Policy admits `<style>` elements only with this answer's nonce
 * (src/server/routes/ui.ts). The terminal library creates style elements at run time for its
 * measured cell size and colours, and gives no way to pass a nonce: every style element created
 * through document.createElement gets it, before it is inserted (a nonce set afterwards does not
 * count). Imported first, before any module that creates one.
 */
const meta = document.querySelector<HTMLMetaElement>('meta[name="sessiond-style-nonce"]');
const nonce = meta?.content ?? "";
// The placeholder left as is means no server put a nonce there (a page opened from the files).
if (nonce !== "" && !nonce.startsWith("__")) {
  const create = document.createElement.bind(document) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
  document.createElement = function createElement(tag: string, options?: ElementCreationOptions): HTMLElement {
    const element = create(tag, options);
    if (tag.toLowerCase() === "style") element.setAttribute("nonce", nonce);
    return element;
  } as typeof document.createElement;
}
