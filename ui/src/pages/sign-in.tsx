import { useState } from "preact/hooks";
import { signInWith } from "../api/session-auth.js";
import type { WhoAmI } from "../api/types.js";
import { ErrorBanner } from "../components/error-banner.js";

/**
 * The token form. The token is kept for this tab only (sessionStorage) and sent as a header,
 * never in a URL. `sessiond ui` opens the page signed in already, with a one-time code.
 */
export function SignIn({ error, onSignedIn }: { error?: unknown; onSignedIn(me: WhoAmI): void }) {
  const [token, setToken] = useState("");
  const [failure, setFailure] = useState<unknown>(error);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.trim();
    if (value === "") {
      setFailure(new Error("Enter a token."));
      return;
    }
    setBusy(true);
    try {
      onSignedIn(await signInWith(value));
    } catch (err) {
      setFailure(err);
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>sessiond</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} autoFocus />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p id="sign-in-help" class="note">
        Paste a token (the admin token is in $SESSIOND_HOME/token), or run <code>sessiond ui</code> to open this page signed in.
      </p>
      <ErrorBanner error={failure} />
    </main>
  );
}
