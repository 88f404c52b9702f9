import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** One entry of a folder as the tests compare trees: type, permission bits, content hash or link target. */
export interface TreeEntry {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink";
  readonly mode?: number;
  readonly sha?: string;
  readonly target?: string;
}

/** Every entry under `dir` (links not followed), sorted by path; `skip` names top-level entries left out. */
export function listTree(dir: string, skip: readonly string[] = []): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel ? join(dir, rel) : dir)) {
      if (!rel && skip.includes(name)) continue;
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(dir, path);
      const stat = lstatSync(abs);
      if (stat.isSymbolicLink()) out.push({ path, type: "symlink", target: readlinkSync(abs) });
      else if (stat.isDirectory()) {
        out.push({ path, type: "dir", mode: stat.mode & 0o7777 });
        walk(path);
      } else out.push({ path, type: "file", mode: stat.mode & 0o7777, sha: createHash("sha256").update(readFileSync(abs)).digest("hex") });
    }
  };
  walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Writes `count` files of `size` random bytes as `<prefix><i>.bin`, spread over 10 folders. @returns their paths */
export function writeRandomFiles(dir: string, count: number, size: number, prefix = "f"): string[] {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `d${i % 10}`, `${prefix}${i}.bin`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(size));
    paths.push(path);
  }
  return paths;
}

/** Every file under a folder, as absolute paths (for counting blobs). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = join(path, name);
      if (lstatSync(abs).isDirectory()) walk(abs);
      else out.push(abs);
    }
  };
  walk(dir);
  return out;
}
