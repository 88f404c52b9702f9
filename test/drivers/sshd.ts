import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/ports.js";

const SSHD = "/usr/sbin/sshd";

/**
 * Why sshd cannot run here, or undefined when it can. Under CI=true a missing sshd is a failure,
 * not a skip (.ci/run installs openssh-server where apt-get exists).
 */
export function sshdMissing(): string | undefined {
  const missing = [SSHD, "ssh-keygen"].filter((tool) => (tool.startsWith("/") ? !existsSync(tool) : !onPath(tool)));
  if (!missing.length) return undefined;
  const reason = `${missing.join(" and ")} not found (apt-get install -y openssh-server)`;
  if (process.env.CI === "true") throw new Error(`CI=true but ${reason}: the ssh target cannot be tested`);
  return reason;
}

function onPath(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A throwaway sshd on a free loopback port: its own host key, a user key for the current user in
 * an AuthorizedKeysFile of its own, no passwords. Stop it with `close()`.
 */
export class TestSshd {
  readonly dir: string;
  readonly user = userInfo().username;
  readonly keyPath: string;
  readonly hostKeySha256: string;
  /** Where sessions on this sshd make their runtime folders (config ssh.runtimeDir), so a test can see them go. */
  readonly remoteRuntimeDir: string;
  port = 0;
  private child: ChildProcess | undefined;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "sessiond-sshd-"));
    this.keyPath = join(this.dir, "user_key");
    this.remoteRuntimeDir = join(this.dir, "remote-runtime");
    mkdirSync(this.remoteRuntimeDir, { mode: 0o700 });
    const hostKey = join(this.dir, "host_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", this.keyPath]);
    writeFileSync(join(this.dir, "authorized_keys"), readFileSync(`${this.keyPath}.pub`));
    this.hostKeySha256 = execFileSync("ssh-keygen", ["-l", "-f", `${hostKey}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  }

  get privateKey(): string {
    return readFileSync(this.keyPath, "utf8");
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const config = join(this.dir, "sshd_config");
    writeFileSync(
      config,
      [
        `Port ${this.port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(this.dir, "host_key")}`,
        `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
        `PidFile ${join(this.dir, "sshd.pid")}`,
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PrintMotd no",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    // sshd refuses to start without its privilege separation directory.
    if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    this.child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    this.child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 500; i++) {
      if (this.child.exitCode !== null) throw new Error(`sshd exited: ${stderr}`);
      if (await accepts(this.port)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`sshd did not listen: ${stderr}`);
  }

  /** server_options for a session on this sshd. */
  options(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { host: "127.0.0.1", port: this.port, user: this.user, private_key_path: this.keyPath, host_key_sha256: this.hostKeySha256, ...extra };
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}


function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
