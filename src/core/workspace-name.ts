import { nameNamespace } from "./session-ref.js";
import type { Session } from "./session.js";

const SAFE_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The folder name of a session's workspace: its name (human-readable) for a session without an
 * agent_id, `<name>@<id>` for one with an agent_id, or its id when the name is not a safe folder
 * name. Names are unique per agent_id only, so two agents' sessions called `build` must not share
 * a folder; the id makes it the session's own ('@' is in no name or id, so no two forms meet).
 * The live drivers (a shell's start cwd), the server's artifact routes and the engine's workspace
 * snapshots all use it, so they name one folder. Pass the session itself: without its agent_id it
 * is taken to have none.
 */
export function workspaceName(session: Pick<Session, "id" | "name"> & { readonly agent_id?: string | null }): string {
  const id = SAFE_DIR_NAME.test(session.id) ? session.id : encodeURIComponent(session.id);
  if (!SAFE_DIR_NAME.test(session.name)) return id;
  return nameNamespace(session.agent_id) === "" ? session.name : `${session.name}@${id}`;
}
