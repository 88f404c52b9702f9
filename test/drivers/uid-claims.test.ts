import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UidClaims, holderName } from "../../src/drivers/sandbox/uid-claims.js";
import { UidPool } from "../../src/drivers/sandbox/uids.js";

/** Another "server": a live process whose name the claims carry. */
function otherProcess(): { child: ChildProcess; name: string } {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  return { child, name: holderName(child.pid!)! };
}

describe("sandbox uids claimed across the servers of a host", () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const claimDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-uid-claims-"));
    dirs.push(dir);
    return dir;
  };

  it("never gives two servers the same uid, whatever range each was given", () => {
    const dir = claimDir();
    const other = otherProcess();
    children.push(other.child);
    const ours = new UidPool(300_000, 3, UidClaims.open(dir));
    const theirs = new UidPool(300_000, 3, UidClaims.open(dir, other.name));
    expect(ours.take()).toBe(300_000);
    expect(theirs.take()).toBe(300_001);
    // A session that had 300_001 before does not get it back while the other server holds it.
    expect(ours.take(300_001)).toBe(300_002);
    expect(() => theirs.take()).toThrow(/all 3 sandbox uids are in use, by this server or others on this host/);
    ours.release(300_000);
    expect(theirs.take()).toBe(300_000);
    theirs.releaseAll();
    expect(ours.take(300_001)).toBe(300_001);
    expect(existsSync(join(dir, "300001", other.name))).toBe(false);
  });

  it("takes a uid whose holder is gone: a crashed server leaves nothing to clean", async () => {
    const dir = claimDir();
    const other = otherProcess();
    const theirs = new UidPool(300_000, 1, UidClaims.open(dir, other.name));
    expect(theirs.take()).toBe(300_000);
    const ours = new UidPool(300_000, 1, UidClaims.open(dir));
    expect(() => ours.take()).toThrow(/in use/);
    other.child.kill("SIGKILL");
    await new Promise((resolve) => other.child.once("exit", resolve));
    expect(ours.take()).toBe(300_000);
    expect(existsSync(join(dir, "300000", other.name))).toBe(false);
  });

  it("runs without claims where their folder cannot be made (a server that is not root)", () => {
    const file = join(claimDir(), "a-file");
    writeFileSync(file, "");
    expect(UidClaims.open(join(file, "uids"))).toBeUndefined();
    expect(new UidPool(300_000, 2, undefined).take()).toBe(300_000);
  });
});
