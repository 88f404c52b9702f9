import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/core/index.js";
import { resolveSshTarget } from "../../src/drivers/shell/ssh-options.js";

/**
 * `server_options.private_key_path` names a file on the sessiond host. Whatever is wrong with it,
 * the answer is the same, so that the path cannot probe which files exist or what they hold.
 */

const DEFAULTS: Config["ssh"] = { acceptUnknownHostKeys: true };
let dir: string;
let key: string;
let encrypted: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sessiond-keypath-"));
  key = join(dir, "id_ed25519");
  encrypted = join(dir, "id_encrypted");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "right-passphrase", "-f", encrypted]);
  writeFileSync(join(dir, "notes.txt"), "not a key\n");
  writeFileSync(join(dir, "huge"), Buffer.alloc(70_000, 0x41));
  mkdirSync(join(dir, "folder"));
  execFileSync("mkfifo", [join(dir, "fifo")]);
  writeFileSync(join(dir, "locked"), "x");
  chmodSync(join(dir, "locked"), 0o000);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(path: string, extra: Record<string, unknown> = {}) {
  try {
    await resolveSshTarget({ host: "h", user: "u", private_key_path: path, ...extra }, DEFAULTS);
  } catch (err) {
    return err as { code: string; field: string; message: string };
  }
  throw new Error(`${path} was accepted`);
}

describe("server_options.private_key_path", () => {
  it("reads a private key file, and an encrypted one with its passphrase", async () => {
    expect((await resolveSshTarget({ host: "h", user: "u", private_key_path: key }, DEFAULTS)).privateKey.toString()).toContain("OPENSSH PRIVATE KEY");
    const target = await resolveSshTarget({ host: "h", user: "u", private_key_path: encrypted, passphrase: "right-passphrase" }, DEFAULTS);
    expect(target.passphrase).toBe("right-passphrase");
  });

  it("answers a missing file, a folder, a FIFO, a device, an oversized file, a file that is not a key, a wrong passphrase and an unreadable file all alike", async () => {
    const answers = [
      await refusal(join(dir, "missing")),
      await refusal(join(dir, "folder")),
      await refusal(join(dir, "fifo")),
      await refusal("/dev/zero"),
      await refusal(join(dir, "huge")),
      await refusal(join(dir, "notes.txt")),
      await refusal(encrypted),
      await refusal(encrypted, { passphrase: "wrong" }),
      await refusal(join(dir, "locked")),
    ];
    for (const answer of answers) {
      expect(answer).toMatchObject({ code: "validation", field: "server_options.private_key_path" });
      expect(answer.message).toBe(answers[0]!.message);
    }
  });
});
