import { type Config, SessiondError, type Session, dataPaths, errors } from "../../core/index.js";
import type { SandboxPlan, SandboxTools } from "../driver.js";
import { visibleInSandbox } from "./launch.js";
import type { SandboxCheck } from "./probe.js";
import { UidClaims } from "./uid-claims.js";
import { UidPool, ownWorkspace } from "./uids.js";

/**
 * Decides how each local live session is sandboxed under config `sandbox` (docs/security.md):
 * whether the sandbox can start here, which folders a session can see, and the plan of one
 * session's next process — a uid of its own from the pool, which then owns the workspace, and
 * its network. LiveSessions asks; the drivers carry the plan to the launch.
 */
export class SandboxPlanner {
  private readonly uids: UidPool;

  constructor(
    private readonly config: Pick<Config, "sandbox" | "sandboxNetwork" | "sandboxUidBase" | "sandboxUidCount" | "sandboxUidClaimDir" | "sandboxReadOnlyPaths" | "home">,
    /** Whether the sandbox can start on this host. */
    private readonly check: () => SandboxCheck,
  ) {
    const claims = config.sandbox === "none" ? undefined : UidClaims.open(config.sandboxUidClaimDir);
    this.uids = new UidPool(config.sandboxUidBase, config.sandboxUidCount, claims);
  }

  /**
   * @returns the sandbox's programs, or undefined with config `sandbox: "none"`
   * @throws sandbox_unavailable naming what this host lacks
   */
  assertAvailable(): SandboxTools | undefined {
    if (this.config.sandbox === "none") return undefined;
    const check = this.check();
    if (!check.ok) throw new SessiondError("sandbox_unavailable", { missing: check.missing });
    return check.tools;
  }

  /**
   * Whether a folder exists inside a session's sandbox: its workspace (any workspace before the
   * session has one), a private empty /tmp, and the read-only system. Always, without a sandbox.
   */
  visible(path: string, workspace: string = dataPaths(this.config).workspaces): boolean {
    return this.config.sandbox === "none" || visibleInSandbox(path, workspace, this.config.sandboxReadOnlyPaths);
  }

  /** @throws validation naming cwd when the sandbox would not show it */
  assertVisible(cwd: string, workspace?: string): void {
    if (!this.visible(cwd, workspace)) {
      throw errors.validation("cwd", `${cwd} is not visible inside the session's sandbox: use a folder of its workspace (copy a project there to work on it), /tmp, or the read-only system (config sandboxReadOnlyPaths shows more host folders, read-only)`);
    }
  }

  /**
   * The sandbox of a session's next process: a uid of its own (the one it had when free), which
   * then owns the workspace, and its network — on when config `sandboxNetwork` allows it and
   * neither the request nor the session's last start turned it off. Undefined with `sandbox:
   * "none"`. Give the uid back with {@link release} when the process is gone.
   * @throws sandbox_unavailable; validation naming cwd; rate_limited when every uid is taken
   */
  async plan(session: Session, workspace: string, cwd: string, network: boolean | undefined): Promise<SandboxPlan | undefined> {
    const tools = this.assertAvailable();
    if (!tools) return undefined;
    this.assertVisible(cwd, workspace);
    const meta = session.runtime_metadata;
    const uid = this.uids.take(meta.sandbox_uid);
    try {
      await ownWorkspace(workspace, uid, uid);
    } catch (err) {
      this.uids.release(uid);
      throw err;
    }
    return {
      tools,
      uid,
      gid: uid,
      // Config off is off for every session; what a session had can only keep it off
      // (runtime_metadata is writable through PATCH).
      network: this.config.sandboxNetwork && (network ?? meta.network !== false),
      workspace,
      readOnlyPaths: this.config.sandboxReadOnlyPaths,
    };
  }

  /** Returns a plan's uid to the pool. */
  release(plan: SandboxPlan | undefined): void {
    if (plan) this.uids.release(plan.uid);
  }

  /** Gives back every uid still held (the server closes), for other servers of this host. */
  close(): void {
    this.uids.releaseAll();
  }
}
