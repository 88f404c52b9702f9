import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CliResult, cliHome, startCli, until, useCompiledCli } from "./run-cli.js";

/**
 * One owner per data dir, for the CLI: commands that start a server on demand, writing at once,
 * across a SIGKILL of that server. The next commands start one again (exactly one, whoever wins),
 * and every write a command reported done is there.
 */

vi.setConfig({ testTimeout: 240_000 });
useCompiledCli();

const homes: ReturnType<typeof cliHome>[] = [];
afterEach(async () => {
  for (const h of homes.splice(0)) await h.cleanup();
});

describe("server + CLI auto-start", () => {
  it("loses no acknowledged write when the server the commands started is killed under them", async () => {
    const h = cliHome();
    homes.push(h);
    const names = ["w0", "w1", "w2"];
    for (const name of names) await h.json(["start", "--name", name]);
    const first = await h.json<{ pid: number }>(["server", "status"]);

    const acked = new Map<string, number>();
    const failures: CliResult[] = [];
    let killed = false;
    const loop = async (name: string) => {
      for (let i = 0; i < 8; i++) {
        const r = await h.run(["iterate", name, "--json"]);
        if (r.code === 0) acked.set(name, Math.max(acked.get(name) ?? 0, (JSON.parse(r.stdout) as { iterations: number }).iterations));
        else failures.push(r);
        if (!killed && [...acked.values()].length === names.length && [...acked.values()].every((n) => n >= 2)) {
          killed = true;
          process.kill(first.pid, "SIGKILL");
        }
      }
    };
    await Promise.all(names.map(loop));
    expect(killed).toBe(true);

    const now = await h.json<{ pid: number; running: boolean; owner: string }>(["server", "status"]);
    expect(now).toMatchObject({ running: true, owner: "server" });
    expect(now.pid).not.toBe(first.pid);
    for (const name of names) {
      const session = await h.json<{ iterations: number }>(["show", name]);
      expect(session.iterations).toBeGreaterThanOrEqual(acked.get(name)!);
    }
    // A command cut off by the kill says what happened; none fails on the store.
    for (const f of failures) expect(f.stderr, f.stderr).not.toMatch(/UNIQUE|SQLITE|owned by/);
    expect(failures.length).toBeLessThanOrEqual(names.length);
  });
});

describe("events --follow across owners", () => {
  it("waits out a server restart and a stop, starting none itself, and misses no event written meanwhile", async () => {
    const h = cliHome({ SESSIOND_FOLLOW_POLL_MS: "20" });
    homes.push(h);
    await h.json(["start", "--name", "followed"]);
    const follow = startCli(["events", "followed", "--follow", "--json"], h.env);
    const types = () => follow.output().split("\n").filter(Boolean).map((line) => (JSON.parse(line) as { type: string }).type);
    try {
      await h.run(["emit", "followed", "before"]);
      await until(() => types().includes("before"));

      await h.json(["server", "restart"]);
      await h.run(["emit", "followed", "after-restart"]);
      await until(() => types().includes("after-restart"));

      await h.json(["server", "stop"]);
      // Stopped is stopped: the follower waits and starts no server of its own.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await h.run(["server", "status", "--json"])).code).toBe(1);
      await h.run(["emit", "followed", "after-stop"]); // starts a server, as any command does
      await until(() => types().includes("after-stop"));
      expect(types()).toEqual(["start", "before", "after-restart", "after-stop"]);
    } finally {
      await follow.stop();
    }
  });
});

describe("a hung server", () => {
  it("makes a command give up after the client timeout, naming the server's pid and what to look at", async () => {
    const h = cliHome();
    homes.push(h);
    await h.json(["start", "--name", "waiting"]);
    const { pid } = await h.json<{ pid: number }>(["server", "status"]);
    process.kill(pid, "SIGSTOP");
    try {
      const r = await h.run(["show", "waiting"], { env: { SESSIOND_CLIENT_TIMEOUT_MS: "1000" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^sessiond: no answer from sessiond at .* within 1000 ms: pid ${pid} \\(.*\\) owns the data dir but did not answer \\(is it stopped\\? see \`sessiond server status\`\\)`));
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });
});

describe("a data dir whose last server was a cluster node", () => {
  it("is not given a SQLite server by a command: it says how to start the node again, and keeps the record that says so", async () => {
    const h = cliHome();
    homes.push(h);
    // What a PostgreSQL node killed with -9 leaves: its record, naming a process that is gone.
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid;
    writeFileSync(join(h.home, "server.pid"), JSON.stringify({ pid: gone, owner: "server", store: "postgres", port: 8011 }));
    const r = await h.run(["list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sessiond: .*the last server on .* \(pid \d+, no longer running\) served PostgreSQL, and this command would start one on SQLite: start that node again with its store settings/);
    expect(existsSync(join(h.home, "sessiond.sock"))).toBe(false);
    const status = await h.run(["server", "status", "--json"]);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: false, store: "postgres", cleaned: [] });
    expect(existsSync(join(h.home, "server.pid"))).toBe(true);
    // Removed, as the message says, a command starts a new SQLite server.
    rmSync(join(h.home, "server.pid"));
    expect((await h.run(["list"])).code).toBe(0);
    expect(await h.json(["server", "status"])).toMatchObject({ running: true, store: "sqlite", node: null });
  });
});
