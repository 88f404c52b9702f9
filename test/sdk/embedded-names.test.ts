import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeSessions, configureSessions, getSession, getSessionContext, removeSession, startSession } from "sessiond";
import { tempHome } from "../helpers/temp-home.js";

let home: ReturnType<typeof tempHome>;
beforeEach(() => {
  home = tempHome();
  configureSessions({ home: home.home });
});
afterEach(async () => {
  await closeSessions();
  home.remove();
});

describe("the embedded API's session names", () => {
  it("finds a session by agent_id/name, and by a bare name only while one session holds it", async () => {
    const a = await startSession("build it", "developer", { agentId: "agent-a", name: "build" });
    const b = await startSession("build it too", "developer", { agentId: "agent-b", name: "build" });
    expect(getSession("agent-a/build")?.id).toBe(a.id);
    expect(getSession("agent-b/build")?.id).toBe(b.id);
    expect(getSession("agent-c/build")).toBeNull();
    expect(() => getSession("build")).toThrow(expect.objectContaining({ code: "ambiguous_name" }));
    expect(() => getSessionContext("build")).toThrow(expect.objectContaining({ code: "ambiguous_name" }));
    expect(removeSession("agent-b/build")).toBe(true);
    expect(getSession("build")?.id).toBe(a.id);
  });
});
