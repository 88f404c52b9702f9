import type { WhoAmI } from "../api/types.js";
import { type Route, followLink, hrefOf } from "../router.js";

/** The top bar: the app's pages, who is signed in, and sign out. */
export function Nav({ me, route, onSignOut }: { me: WhoAmI; route: Route; onSignOut(): void }) {
  const link = (target: Route, text: string, current: boolean) => (
    <a href={hrefOf(target)} onClick={followLink} aria-current={current ? "page" : undefined}>
      {text}
    </a>
  );
  return (
    <header class="topbar">
      <span class="brand">sessiond</span>
      <nav aria-label="Main">
        {link({ page: "sessions" }, "Sessions", route.page === "sessions" || route.page === "session")}
        {link({ page: "stats" }, "Stats", route.page === "stats")}
      </nav>
      <span class="who">
        {me.name} ({me.role}
        {me.agent_id ? `, agent ${me.agent_id}` : ""}
        {me.user_id ? `, user ${me.user_id}` : ""})
      </span>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}
