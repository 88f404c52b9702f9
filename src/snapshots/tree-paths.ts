import { execFile } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { promisify } from "node:util";
import { DIR_FLAGS, fitsPathMax } from "./walk.js";

/**
 * Names the entries of a tree the server builds (a restore's or a fork's staging folder), however
 * long their paths: a path the kernel takes is itself; a longer one is named through its folder's
 * descriptor (`/proc/self/fd/<fd>/<name>`), that folder opened one name at a time from the root,
 * never through a link. Holds the descriptors of the last such folder and of those above it, so
 * the entries of one deep folder, listed together in a manifest, open nothing more; `close` them.
 */
export class TreePaths {
  /** The folders open now, the root first: each the folder above the next one. */
  private readonly chain: { readonly path: string; readonly fd: number }[] = [];

  constructor(private readonly root: string) {}

  /** A path that names `path` (relative to the root, `/`-separated) in one system call. */
  of(path: string): string {
    const full = `${this.root}/${path}`;
    if (fitsPathMax(full)) return full;
    const cut = path.lastIndexOf("/");
    return `/proc/self/fd/${this.folder(cut < 0 ? "" : path.slice(0, cut))}/${path.slice(cut + 1)}`;
  }

  close(): void {
    for (const { fd } of this.chain.splice(0)) closeSync(fd);
  }

  /** The descriptor of folder `dir` ("" for the root), opened from the chain's nearest folder above it. */
  private folder(dir: string): number {
    while (this.chain.length > 1 && !isWithin(dir, this.chain[this.chain.length - 1]!.path)) closeSync(this.chain.pop()!.fd);
    if (this.chain.length === 0) this.chain.push({ path: "", fd: openSync(this.root, DIR_FLAGS) });
    let top = this.chain[this.chain.length - 1]!;
    const below = top.path === "" ? dir : dir.slice(top.path.length + 1);
    for (const name of below === "" ? [] : below.split("/")) {
      top = { path: top.path === "" ? name : `${top.path}/${name}`, fd: openSync(`/proc/self/fd/${top.fd}/${name}`, DIR_FLAGS) };
      this.chain.push(top);
    }
    return top.fd;
  }
}

/** Whether `path` is folder `dir` or inside it ("" is the root). */
function isWithin(path: string, dir: string): boolean {
  return dir === "" || path === dir || path.startsWith(`${dir}/`);
}

const run = promisify(execFile);

/**
 * Removes a tree that a session's processes wrote (a replaced workspace, a staging folder), and
 * does not fail when it is missing. Through coreutils `rm -r`, which walks by descriptors: it
 * never follows a link (one put where a folder was while it runs included) and knows no path
 * length limit. Node's `fs.rm` walks by full paths, and fails past 4 KiB (ENAMETOOLONG).
 */
export async function removeTree(path: string): Promise<void> {
  await run("rm", ["-rf", "--one-file-system", "--", path]);
}
