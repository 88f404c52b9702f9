import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import { type ArtifactEntry, MAX_LISTING_DEPTH, type OpenArtifact, Workspaces, artifactStream } from "../../src/server/workspaces/index.js";

let home: string;
let outside: string;
let workspaces: Workspaces;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "sessiond-ws-"));
  outside = mkdtempSync(join(tmpdir(), "sessiond-outside-"));
  writeFileSync(join(outside, "secret.txt"), "top secret");
  workspaces = new Workspaces(join(home, "workspaces"), 1000);
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const session = (name = "ws", runtime_metadata: Record<string, unknown> = {}) => ({ id: randomUUID(), name, runtime_metadata }) as unknown as Session;
const body = (text: string | Buffer) => Readable.from([Buffer.from(text)]);
const files = (name = "ws") => join(home, "workspaces", name, "files");
const openFds = () => readdirSync("/proc/self/fd").length;

/** The bytes of a download, once its file is closed. */
async function download(artifact: OpenArtifact | ArtifactEntry[]): Promise<string> {
  if (Array.isArray(artifact)) throw new Error("expected a file, got a listing");
  const stream = artifactStream(artifact);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  if (!stream.closed) await once(stream, "close");
  return Buffer.concat(chunks).toString();
}

/** The error a promise rejects with. */
async function refusal(attempt: Promise<unknown> | (() => Promise<unknown>)): Promise<{ code?: string; field?: string; message: string }> {
  try {
    await (typeof attempt === "function" ? attempt() : attempt);
  } catch (err) {
    return err as { code?: string; field?: string; message: string };
  }
  throw new Error("expected a refusal");
}

describe("descriptor-relative artifact access", () => {
  it("refuses .., absolute paths, empty segments and NUL bytes before touching the disk", async () => {
    const s = session();
    for (const path of ["../x", "a/../../x", "..", "/etc/passwd", "a//b", "a/", "./a", "a\0b", "..\\x"]) {
      for (const attempt of [() => workspaces.write(s, "files", path, body("pwned")), () => workspaces.read(s, "files", path), () => workspaces.delete(s, "files", path)]) {
        expect(await refusal(attempt), path).toMatchObject({ code: "validation", field: "path" });
      }
    }
    // Not even the workspaces folder was created.
    expect(existsSync(join(home, "workspaces"))).toBe(false);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });

  it("refuses a symbolic link as the last component for reading, and replaces the link itself on upload", async () => {
    const s = session();
    await workspaces.ensure(s);
    symlinkSync(join(outside, "secret.txt"), join(files(), "link.txt"));
    expect(await refusal(workspaces.read(s, "files", "link.txt"))).toMatchObject({ code: "forbidden", field: "path", message: expect.stringContaining("symbolic link") });
    const { created } = await workspaces.write(s, "files", "link.txt", body("mine"));
    expect(created).toBe(false);
    expect(lstatSync(join(files(), "link.txt")).isFile()).toBe(true);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("refuses a symbolic link as a folder on the way, for reading, writing, listing and deleting", async () => {
    const s = session();
    await workspaces.ensure(s);
    symlinkSync(outside, join(files(), "escape"));
    for (const attempt of [
      () => workspaces.read(s, "files", "escape/secret.txt"),
      () => workspaces.write(s, "files", "escape/new.txt", body("pwned")),
      () => workspaces.write(s, "files", "escape/deeper/new.txt", body("pwned")),
      () => workspaces.list(s, "files", "escape"),
      () => workspaces.delete(s, "files", "escape/secret.txt"),
    ]) {
      expect(await refusal(attempt)).toMatchObject({ code: "forbidden", field: "path", message: "files/escape is a symbolic link; artifacts never follow links" });
    }
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("does not serve or list a file with another hard link, and replaces or deletes only its name in the workspace", async () => {
    const s = session();
    await workspaces.ensure(s);
    // Made as root here; fs.protected_hardlinks keeps an unprivileged sandbox user from linking a file it cannot write.
    linkSync(join(outside, "secret.txt"), join(files(), "hard.txt"));
    writeFileSync(join(files(), "plain.txt"), "plain");
    expect(await refusal(workspaces.read(s, "files", "hard.txt"))).toMatchObject({ code: "forbidden", field: "path", message: expect.stringContaining("hard-linked files are not served") });
    expect((await workspaces.list(s, "files")).map((e) => e.path)).toEqual(["plain.txt"]);
    await workspaces.write(s, "files", "hard.txt", body("replaced"));
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
    expect(await download(await workspaces.read(s, "files", "hard.txt"))).toBe("replaced");
    linkSync(join(outside, "secret.txt"), join(files(), "hard2.txt"));
    await workspaces.delete(s, "files", "hard2.txt");
    expect(existsSync(join(files(), "hard2.txt"))).toBe(false);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("refuses a FIFO without waiting for a writer", async () => {
    const s = session();
    await workspaces.ensure(s);
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [join(files(), "pipe")]);
    expect(await refusal(workspaces.read(s, "files", "pipe"))).toMatchObject({ code: "forbidden", message: "files/pipe is not a regular file" });
  });

  it("deletes a folder holding links to outside without touching what they point to", async () => {
    const s = session();
    await workspaces.write(s, "files", "tree/a/b.txt", body("b"));
    symlinkSync(outside, join(files(), "tree", "a", "out-dir"));
    symlinkSync(join(outside, "secret.txt"), join(files(), "tree", "out-file"));
    linkSync(join(outside, "secret.txt"), join(files(), "tree", "a", "hard"));
    await workspaces.delete(s, "files", "tree");
    expect(existsSync(join(files(), "tree"))).toBe(false);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("removes a whole workspace without following a link inside it, and removes a link in its place as a link", async () => {
    const s = session();
    await workspaces.write(s, "files", "a.txt", body("a"));
    symlinkSync(outside, join(files(), "escape"));
    // A name that is not UTF-8, and a path longer than PATH_MAX (made a folder at a time, as a shell would).
    writeFileSync(Buffer.from(`${files()}/caf\xe9`, "latin1"), "latin-1 name");
    execFileSync("bash", ["-c", `cd '${files()}' && for i in $(seq 25); do mkdir ${"d".repeat(200)}$i && cd ${"d".repeat(200)}$i; done && echo deep > f`]);
    await workspaces.remove(s);
    expect(existsSync(join(home, "workspaces", "ws"))).toBe(false);
    symlinkSync(outside, join(home, "workspaces", "ws"));
    await workspaces.remove(s);
    expect(existsSync(join(home, "workspaces", "ws"))).toBe(false);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });

  it("lists links as nothing, and descends at most MAX_LISTING_DEPTH folders", async () => {
    const s = session();
    const deep = Array.from({ length: MAX_LISTING_DEPTH + 3 }, (_, i) => `d${i}`);
    await workspaces.write(s, "files", `${deep.join("/")}/leaf.txt`, body("x"));
    symlinkSync(outside, join(files(), "escape"));
    const listed = await workspaces.list(s, "files");
    expect(listed.map((e) => e.path)).toEqual(deep.slice(0, MAX_LISTING_DEPTH).map((_, i) => deep.slice(0, i + 1).join("/")));
    // The rest is listed by asking for the deepest folder shown.
    const rest = await workspaces.list(s, "files", deep.slice(0, MAX_LISTING_DEPTH).join("/"));
    expect(rest.map((e) => e.path.split("/").at(-1))).toEqual([...deep.slice(MAX_LISTING_DEPTH), "leaf.txt"]);
  });

  it("serves a file only up to the size it had when opened, even while it grows", async () => {
    const s = session();
    await workspaces.write(s, "files", "growing.log", body("first\n"));
    const opened = await workspaces.read(s, "files", "growing.log");
    appendFileSync(join(files(), "growing.log"), "appended after the open\n");
    expect(await download(opened)).toBe("first\n");
  });

  it("closes every descriptor it opens, on success and on every refusal", async () => {
    const s = session();
    await workspaces.ensure(s);
    symlinkSync(outside, join(files(), "escape"));
    symlinkSync(join(outside, "secret.txt"), join(files(), "link.txt"));
    linkSync(join(outside, "secret.txt"), join(files(), "hard.txt"));
    writeFileSync(join(files(), "in-the-way"), "file");
    const before = openFds();
    for (let round = 0; round < 20; round++) {
      await workspaces.write(s, "files", `dir/f${round}.txt`, body("ok"));
      expect(await download(await workspaces.read(s, "files", `dir/f${round}.txt`))).toBe("ok");
      await workspaces.read(s, "files", "dir");
      await workspaces.list(s);
      await download(await workspaces.read(s, "files", "dir/f0.txt"));
      const abandoned = artifactStream((await workspaces.read(s, "files", "dir/f0.txt")) as OpenArtifact);
      abandoned.destroy();
      await once(abandoned, "close");
      for (const refused of [
        () => workspaces.read(s, "files", "escape/secret.txt"),
        () => workspaces.read(s, "files", "link.txt"),
        () => workspaces.read(s, "files", "hard.txt"),
        () => workspaces.read(s, "files", "missing/x"),
        () => workspaces.read(s, "files", "dir/missing"),
        () => workspaces.write(s, "files", "escape/x", body("x")),
        () => workspaces.write(s, "files", "in-the-way/x", body("x")),
        () => workspaces.write(s, "files", "dir", body("x")),
        () => workspaces.write(s, "files", "big.bin", body(Buffer.alloc(2000))),
        () => workspaces.delete(s, "files", "escape/secret.txt"),
        () => workspaces.delete(s, "files", "nothing"),
      ]) {
        await refusal(refused);
      }
    }
    await workspaces.delete(s, "files", "dir");
    await workspaces.remove(s);
    expect(openFds()).toBe(before);
  });
});

describe("ownership of what the server creates", () => {
  it("gives every folder and file it creates to the sandbox user recorded in runtime_metadata", async () => {
    const s = session("owned", { sandbox_uid: 1234, sandbox_gid: 2345 });
    await workspaces.write(s, "files", "a/b/c.txt", body("c"));
    const ws = join(home, "workspaces", "owned");
    for (const path of [ws, join(ws, "files"), join(ws, "files", "a"), join(ws, "files", "a", "b"), join(ws, "files", "a", "b", "c.txt")]) {
      expect(statSync(path), path).toMatchObject({ uid: 1234, gid: 2345 });
    }
    // The workspaces folder is the server's own, not the session's.
    expect(statSync(join(home, "workspaces")).uid).toBe(process.getuid!());
  });

  it("leaves folders it did not create with their owner", async () => {
    const s = session("owned", { sandbox_uid: 1234, sandbox_gid: 2345 });
    mkdirSync(join(home, "workspaces", "owned", "files", "mine"), { recursive: true });
    await workspaces.write(s, "files", "mine/x.txt", body("x"));
    expect(statSync(join(home, "workspaces", "owned", "files", "mine")).uid).toBe(process.getuid!());
    expect(statSync(join(home, "workspaces", "owned", "files", "mine", "x.txt")).uid).toBe(1234);
  });

  it("keeps the server's ownership when the session has no sandbox user, and ensure() follows the same rule", async () => {
    const plain = session("plain");
    await workspaces.write(plain, "files", "a.txt", body("a"));
    expect(statSync(join(home, "workspaces", "plain", "files", "a.txt")).uid).toBe(process.getuid!());
    const owned = session("owned", { sandbox_uid: 1234, sandbox_gid: 2345 });
    await workspaces.ensure(owned);
    for (const category of ["logs", "screenshots", "files", "recordings", "devtools"]) {
      expect(statSync(join(home, "workspaces", "owned", category))).toMatchObject({ uid: 1234, gid: 2345 });
    }
  });

  it("ignores sandbox ids that are not whole non-negative numbers", async () => {
    const s = session("odd", { sandbox_uid: "1234", sandbox_gid: -5 });
    await workspaces.write(s, "files", "a.txt", body("a"));
    expect(statSync(join(home, "workspaces", "odd", "files", "a.txt"))).toMatchObject({ uid: process.getuid!(), gid: process.getgid!() });
  });
});
