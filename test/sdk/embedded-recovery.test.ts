import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeSessions, configureSessions, getSession, isSessionResumable, resumeSession, sessionManager, startSession } from "sessiond";
import { tempHome } from "../helpers/temp-home.js";

let home: ReturnType<typeof tempHome>;
beforeEach(() => {
  home = tempHome();
  // Live sessions off, whatever the environment running the tests says.
  configureSessions({ home: home.home, config: { enableSessions: false } });
});
afterEach(async () => {
  await closeSessions();
  home.remove();
});

describe("the embedded resumeSession of a crashed live session", () => {
  it("refuses while live sessions are off, with the error a server gives for starting one, and leaves it crashed", async () => {
    const shell = await startSession("a shell", "ops", { kind: "shell" });
    await sessionManager().crash(shell.id);
    expect(isSessionResumable(shell.id)).toBe(true);
    const err = await resumeSession(shell.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: "validation",
      field: "kind",
      message: "invalid kind: shell is not enabled; no mode is enabled (set ENABLE_SESSIONS=true, or executionModes.session in the config file, for the server: sessiond server restart picks it up)",
    });
    expect(getSession(shell.id)?.status).toBe("crashed");
    // An agent session still resumes from a crash.
    const agent = await startSession("a task", "developer");
    await sessionManager().crash(agent.id);
    expect((await resumeSession(agent.id)).status).toBe("active");
  });
});
