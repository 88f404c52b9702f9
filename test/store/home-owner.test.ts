import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { claimHome } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

/** Claiming a data dir, in one process: what makes it owned, and what does not. */
describe("claimHome", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const home = () => {
    const h = tempHome();
    cleanups.push(h.remove);
    return h;
  };

  it("is not kept from a data dir by a pid file naming some unrelated live process", () => {
    const h = home();
    writeFileSync(join(h.home, "server.pid"), JSON.stringify({ pid: 1 }));
    const claim = claimHome(h.config, "embedded");
    expect(claim.owned).toBeDefined();
    claim.owned!.release();
  });

  it("refuses a data dir whose lock file and pid file were removed while a process still listens on its socket", async () => {
    const h = home();
    // Another process's listener is what a would-be owner sees; one of this process would not count.
    const listener = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(join(h.home, "owner.sock"))}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "ignore"] });
    cleanups.push(() => listener.kill("SIGKILL"));
    await new Promise((resolve) => listener.stdout!.once("data", resolve));
    const claim = claimHome(h.config, "server");
    expect(claim).toMatchObject({ owned: undefined, lockRemoved: true });

    // This process's own listener is not another owner.
    listener.kill("SIGKILL");
    await new Promise((resolve) => listener.once("exit", resolve));
    rmSync(join(h.home, "owner.sock"), { force: true });
    const own = createServer();
    await new Promise<void>((resolve) => own.listen(join(h.home, "sessiond.sock"), resolve));
    try {
      const mine = claimHome(h.config, "server");
      expect(mine.owned).toBeDefined();
      mine.owned!.release();
    } finally {
      own.close();
    }
  });

  it("refuses a data dir others may write, or that belongs to another user, naming what to do", () => {
    const h = home();
    chmodSync(h.home, 0o777);
    expect(() => claimHome(h.config, "embedded")).toThrow(`cannot use the data dir ${h.home}: group or others may write it (run chmod 700 ${h.home})`);
    expect(() => claimHome(h.config, "embedded")).toThrow(expect.objectContaining({ code: "data_dir_unusable", status: 500 }));
    chmodSync(h.home, 0o700);
    const other = join(h.home, "theirs");
    mkdirSync(other, { mode: 0o700 });
    if (process.getuid?.() === 0) {
      chownSync(other, 4242, 4242);
      expect(() => claimHome({ ...h.config, home: other }, "embedded")).toThrow(`it belongs to uid 4242, not this user (0)`);
    }
  });
});
