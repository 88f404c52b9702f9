import { useCallback, useEffect, useLayoutEffect, useState } from "preact/hooks";
import { ApiError, onUnauthorized } from "./api/client.js";
import { exchangeCode, takeLoginCode, whoAmI } from "./api/session-auth.js";
import { type TokenSource, clearToken, getToken } from "./api/token.js";
import type { WhoAmI } from "./api/types.js";
import { Nav } from "./components/nav.js";
import { SessionPage } from "./pages/session-page.js";
import { SessionsList } from "./pages/sessions-list.js";
import { SignIn } from "./pages/sign-in.js";
import { StatsPage } from "./pages/stats.js";
import { hrefOf, useRoute } from "./router.js";

type Auth = { state: "checking" } | { state: "signed-out"; error?: unknown } | { state: "signed-in"; me: WhoAmI };

/**
 * The app: signs in (a `#code=` of `sessiond ui`, else the tab's stored token, else the form),
 * then shows the page the path names. A 401 anywhere signs out and says why.
 */
export function App() {
  const [auth, setAuth] = useState<Auth>({ state: "checking" });

  const check = useCallback(async () => {
    try {
      const code = takeLoginCode();
      if (code !== undefined) await exchangeCode(code);
    } catch (error) {
      setAuth({ state: "signed-out", error });
      return;
    }
    if (getToken() === null) {
      setAuth({ state: "signed-out" });
      return;
    }
    try {
      setAuth({ state: "signed-in", me: await whoAmI() });
    } catch (error) {
      // A 401 has signed out already, saying why (onUnauthorized below).
      if (error instanceof ApiError && error.status === 401) return;
      setAuth({ state: "signed-out", error });
    }
  }, []);

  // A layout effect: the sign-in check starts as the first render is done, not after a paint
  // (Preact runs plain effects after the next animation frame, up to 100 ms later).
  useLayoutEffect(() => {
    void check();
    return onUnauthorized((error, from) => setAuth({ state: "signed-out", error: new Error(signedOutMessage(error, from)) }));
  }, [check]);

  if (auth.state === "checking") return <p class="loading" role="status">Signing in…</p>;
  if (auth.state === "signed-out") return <SignIn error={auth.error} onSignedIn={(me) => setAuth({ state: "signed-in", me })} />;
  return (
    <Shell
      me={auth.me}
      onSignOut={() => {
        clearToken();
        setAuth({ state: "signed-out" });
      }}
    />
  );
}

/**
 * Why the page signed out on a 401. A `sessiond ui` sign-in is a dashboard token the server keeps
 * in memory: a restart of the server ends it, which the page learns when its feed reconnects.
 */
function signedOutMessage(error: ApiError, from: TokenSource): string {
  if (from === "link") {
    return `This page was signed in by “sessiond ui”, and the server no longer accepts that sign-in (${error.message}): it ends when the server restarts, or when it expires. Run “sessiond ui” again, or sign in with a token.`;
  }
  return `The server no longer accepts this token (${error.message}): sign in again.`;
}

function Shell({ me, onSignOut }: { me: WhoAmI; onSignOut(): void }) {
  const route = useRoute();
  useEffect(() => {
    const titles = { sessions: "Sessions", session: "Session", stats: "Stats", missing: "Not found" } as const;
    document.title = `${route.page === "session" ? route.id : titles[route.page]} · sessiond`;
  }, [route]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Nav me={me} route={route} onSignOut={onSignOut} />
      <main id="main" tabIndex={-1}>
        {route.page === "sessions" && <SessionsList me={me} />}
        {route.page === "session" && <SessionPage key={route.id} id={route.id} me={me} />}
        {route.page === "stats" && <StatsPage me={me} />}
        {route.page === "missing" && (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page at {route.path}. <a href={hrefOf({ page: "sessions" })}>Back to the sessions</a>.
            </p>
          </section>
        )}
      </main>
    </>
  );
}
