import { mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readStat } from "../process-tree.js";

/**
 * Machine-wide claims on sandbox uids, so that two sessiond servers on one host never run sessions
 * as the same uid, whatever ranges they were given: the kernel keeps some things per uid across
 * every namespace (`ulimit -u` counts a uid's processes host-wide, a uid has one keyring), so a
 * session of one server could starve or reach a session of another that had its uid.
 *
 * A claim is a file `<dir>/<uid>/<pid>-<starttime>` of the server holding the uid. To claim, a
 * server adds its file and looks: alone among the live holders, the uid is its; with another live
 * holder it takes its file back and the uid is someone else's. Two servers racing for one uid may
 * both back off (each then tries the next uid); neither ever has it while the other does. Files of
 * servers that are gone (their pid ended, or belongs to another process now) are removed as they
 * are met, so a crash leaves nothing to clean. The folder is root's, mode 0700: sandboxed
 * sessions do not see it (their /run is their own).
 */
export class UidClaims {
  private readonly held = new Set<number>();

  private constructor(
    private readonly dir: string,
    /** This server's name among the holders: `<pid>-<starttime>`. */
    private readonly self: string,
  ) {}

  /**
   * The claims kept in `dir`, as this process (or as `self`, a live process's `<pid>-<starttime>`).
   * @returns undefined when the folder cannot be made (not root): uids are then this server's alone to count
   */
  static open(dir: string, self: string | undefined = holderName(process.pid)): UidClaims | undefined {
    if (self === undefined) return undefined;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      return new UidClaims(dir, self);
    } catch {
      return undefined;
    }
  }

  /** Claims `uid` for this server. @returns false when another live server holds it */
  claim(uid: number): boolean {
    const folder = join(this.dir, String(uid));
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      writeFileSync(join(folder, this.self), "", { mode: 0o600 });
    } catch {
      // A claim that cannot be written is no claim: the uid is left to whoever can.
      return false;
    }
    const others = this.liveHolders(folder).filter((name) => name !== this.self);
    if (others.length > 0) {
      rmSync(join(folder, this.self), { force: true });
      return false;
    }
    this.held.add(uid);
    return true;
  }

  release(uid: number): void {
    if (!this.held.delete(uid)) return;
    const folder = join(this.dir, String(uid));
    rmSync(join(folder, this.self), { force: true });
    try {
      // Only when empty; a claim racing in now just finds its folder gone and tries another uid.
      rmdirSync(folder);
    } catch {
      // Another server's claim is in it.
    }
  }

  /** Gives back every uid this server holds (it closes). */
  releaseAll(): void {
    for (const uid of [...this.held]) this.release(uid);
  }

  /** The holders of a uid's folder whose process lives, removing the files of those gone. */
  private liveHolders(folder: string): string[] {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return [];
    }
    return names.filter((name) => {
      if (name === this.self || holderLives(name)) return true;
      rmSync(join(folder, name), { force: true });
      return false;
    });
  }
}

/** `<pid>-<starttime>` of a live process, undefined when it is gone. */
export function holderName(pid: number): string | undefined {
  const stat = readStat(pid);
  return stat ? `${pid}-${stat.starttime}` : undefined;
}

/** Whether the process a holder's name names still runs (the same process: its pid may have been reused). */
function holderLives(name: string): boolean {
  const pid = Number(name.slice(0, name.indexOf("-")));
  return Number.isInteger(pid) && pid > 0 && holderName(pid) === name;
}
