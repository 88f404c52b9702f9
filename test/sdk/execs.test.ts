/** Interactive work in a live shell through `client.execs`, against a real server on a loopback port. */
import { afterEach, describe, expect, it } from "vitest";
import type { SessiondClient } from "sessiond/client";
import { type TestServer, startServer } from "../server/harness.js";
import { execDeadline } from "../../src/sdk/client/sessions-client.js";
import { connectClient } from "./support/connect.js";
import { waitFor } from "../events/support/wait.js";

describe("client.execs", () => {
  let server: TestServer | undefined;
  let client: SessiondClient | undefined;
  let shellId: string | undefined;

  afterEach(async () => {
    if (shellId) await client!.sessions.stop(shellId).catch(() => undefined);
    await client?.close();
    await server?.close();
    shellId = client = server = undefined;
  });

  async function shell(): Promise<{ c: SessiondClient; id: string }> {
    server = await startServer({ enableSessions: true });
    client = await connectClient(server);
    shellId = (await client.sessions.createSession({ kind: "shell", name: "interactive" })).id;
    return { c: client, id: shellId };
  }

  it("submits an exec without waiting, feeds its stdin, and reads its result by id", async () => {
    const { c, id } = await shell();
    const { exec_id } = await c.execs.submit(id, "read name; echo hello $name", { stdin: true });
    await waitFor("the exec to run", async () => (await c.execs.status(id, exec_id)).state === "running");
    expect(await c.execs.stdin(id, exec_id, "ada\n")).toEqual({ exec_id, bytes: 4 });
    const done = await waitFor("the exec to finish", async () => {
      const state = await c.execs.status(id, exec_id);
      return state.state === "finished" ? state : undefined;
    });
    expect(done.result).toMatchObject({ exec_id, stdout: "hello ada\n", exit_code: 0 });
    await expect(c.execs.stdin(id, exec_id, "late\n")).rejects.toMatchObject({ code: "exec_not_running", status: 409 });
  });

  it("waits for an exec allowed to run longer than the client's own request deadline", async () => {
    const { id } = await shell();
    const impatient = await connectClient(server!, { timeoutMs: 200 });
    try {
      await expect(impatient.sessions.getSession(id)).resolves.toMatchObject({ id });
      const result = await impatient.sessions.exec(id, "sleep 0.5; echo done", { timeout_ms: 10_000 });
      expect(result).toMatchObject({ stdout: "done\n", status: "ok" });
      expect((await impatient.live.exec(id, "sleep 0.5; echo again", { timeout_ms: 10_000 })).stdout).toBe("again\n");
    } finally {
      await impatient.close();
    }
  });

  it("leaves a timeout_ms past a timer's reach to the server, which names it; the client's deadline stays a timer's", async () => {
    // A longer deadline would fire at once, with a TimeoutOverflowWarning on the caller's stderr.
    expect(execDeadline({ timeoutMs: 60_000 }, 99_999_999_999)).toEqual({ timeoutMs: 2 ** 31 - 1 });
    expect(execDeadline({ timeoutMs: 60_000 }, 1_000)).toEqual({ timeoutMs: 61_000 });
    const { c, id } = await shell();
    await expect(c.sessions.exec(id, "echo hi", { timeout_ms: 99_999_999_999 })).rejects.toMatchObject({ code: "validation", field: "timeout_ms" });
  });

  it("interrupts one running exec and leaves the session usable", async () => {
    const { c, id } = await shell();
    const { exec_id } = await c.execs.submit(id, "sleep 30");
    await waitFor("the exec to run", async () => (await c.execs.status(id, exec_id)).state === "running");
    expect(await c.execs.interrupt(id, exec_id)).toEqual({ exec_id, signalled: true });
    const state = await waitFor("the interrupted result", async () => {
      const s = await c.execs.status(id, exec_id);
      return s.state === "finished" ? s : undefined;
    });
    expect(state.result?.status).toBe("interrupted");
    expect((await c.sessions.exec(id, "echo still-here")).stdout).toBe("still-here\n");
  });

  it("lists and kills a background job, refuses a busy session under the reject policy, and extends the lifetime", async () => {
    const { c, id } = await shell();
    const job = await c.sessions.exec(id, "sleep 60", { background: true });
    expect(job.pid).toEqual(expect.any(Number));
    const listed = await waitFor("the job in the process list", async () => (await c.execs.processes(id)).find((p) => p.pid === job.pid));
    expect(listed.exec_id).toBe(job.exec_id);
    expect(await c.execs.killProcess(id, job.pid as number, "SIGKILL")).toEqual({ pid: job.pid, signal: "SIGKILL" });
    await waitFor("the job to be gone", async () => !(await c.execs.processes(id)).some((p) => p.pid === job.pid));

    expect(await c.execs.setPolicy(id, "reject")).toEqual({ exec_policy: "reject" });
    const running = await c.execs.submit(id, "sleep 30");
    await waitFor("the exec to run", async () => (await c.execs.status(id, running.exec_id)).state === "running");
    await expect(c.sessions.exec(id, "echo refused")).rejects.toMatchObject({ code: "session_busy", status: 409 });
    await c.execs.kill(id, running.exec_id);

    const { lifetime_ends_at } = await c.execs.extendLifetime(id, 60_000);
    expect(lifetime_ends_at === null || !Number.isNaN(Date.parse(lifetime_ends_at))).toBe(true);
  });
});
