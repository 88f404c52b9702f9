import { useEffect, useRef, useState } from "preact/hooks";

/** Where the app is mounted: every page's path starts with it. */
export const BASE = "/ui";

/** The pages of the app, from the path under /ui. */
export type Route = { page: "sessions" } | { page: "session"; id: string } | { page: "stats" } | { page: "missing"; path: string };

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = rest.split("/").filter(Boolean);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "sessions")) return { page: "sessions" };
  if (parts.length === 2 && parts[0] === "sessions") return { page: "session", id: decodeURIComponent(parts[1]!) };
  if (parts.length === 1 && parts[0] === "stats") return { page: "stats" };
  return { page: "missing", path: rest };
}

/** The href of a page. */
export function hrefOf(route: Route): string {
  switch (route.page) {
    case "sessions":
      return `${BASE}/`;
    case "session":
      return `${BASE}/sessions/${encodeURIComponent(route.id)}`;
    case "stats":
      return `${BASE}/stats`;
    case "missing":
      return `${BASE}${route.path}`;
  }
}

const listeners = new Set<() => void>();
addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Goes to a page of the app without reloading it. */
export function navigate(href: string): void {
  history.pushState(null, "", href);
  listeners.forEach((l) => l());
}

/**
 * Rewrites the current page's query string in place (no new history entry, no navigation): the
 * state of a page that a reload or a shared link should keep, such as the list's filters.
 */
export function replaceQuery(search: string): void {
  history.replaceState(history.state, "", `${location.pathname}${search}${location.hash}`);
}

/**
 * Puts a new query string of the current page in a new history entry, so Back returns to the one
 * before (the list's filters and sort, applied by the user); nothing when it is the same.
 */
export function pushQuery(search: string): void {
  if (search === location.search) return;
  history.pushState(null, "", `${location.pathname}${search}${location.hash}`);
}

/**
 * Calls `listener` with the page's query string after Back or Forward (popstate) while the
 * component is mounted: a page whose state is in its URL follows it there.
 */
export function usePopState(listener: (search: string) => void): void {
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => {
    const follow = () => latest.current(location.search);
    addEventListener("popstate", follow);
    return () => removeEventListener("popstate", follow);
  }, []);
}

/** The current page; re-renders on navigation (links, back and forward). */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}

/**
 * A click on an in-app link navigates without a reload; a click with a modifier (new tab…) is
 * left to the browser, so links stay links.
 */
export function followLink(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href")!);
}
