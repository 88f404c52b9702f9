import { mkdirSync, existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ARTIFACT_CATEGORIES } from "../../src/drivers/index.js";
import { LiveHarness, failure } from "./harness.js";

describe("a live shell session", () => {
  let h: LiveHarness;
  beforeEach(() => {
    h = new LiveHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const shell = (name = "sh") => h.live.start({ kind: "shell", name });

  it("starts active in its workspace, with the five artifact folders, and records where it runs", async () => {
    const session = await shell("ws");
    const workspace = join(h.home.home, "workspaces", "ws");
    expect(session).toMatchObject({ status: "active", kind: "shell", server: "local", runtime_backend: "local", workspace });
    for (const category of ARTIFACT_CATEGORIES) expect(existsSync(join(workspace, category))).toBe(true);
    expect(session.runtime_metadata).toMatchObject({ target: "local", cwd: workspace, workspace, restarts: 0 });
    expect(typeof session.runtime_metadata.pid).toBe("number");
    expect((await h.live.exec("ws", "pwd")).stdout).toBe(`${workspace}\n`);
    expect((await h.live.exec("ws", "echo $SESSIOND_SESSION_NAME $SESSIOND_WORKSPACE")).stdout).toBe(`ws ${workspace}\n`);
  });

  it("starts in the cwd it is given, and refuses one that does not exist or that its sandbox would not show", async () => {
    // In the sandbox a start cwd is a folder of the session's workspace (or /tmp, or the system).
    const dir = join(h.config.home, "workspaces", "here", "sub");
    mkdirSync(dir, { recursive: true });
    await h.live.start({ kind: "shell", name: "here", cwd: dir });
    expect((await h.live.exec("here", "pwd")).stdout).toBe(`${dir}\n`);
    const err = await failure(h.live.start({ kind: "shell", cwd: join(dir, "missing") }));
    expect(err).toMatchObject({ code: "validation", field: "cwd" });
    const outside = realpathSync(mkdtempSync(join(tmpdir(), "sessiond-cwd-")));
    try {
      const hidden = await failure(h.live.start({ kind: "shell", cwd: outside }));
      if (h.config.sandbox === "bwrap") expect(hidden).toMatchObject({ code: "validation", field: "cwd", message: expect.stringMatching(/not visible inside/) });
      // Whether a folder the sandbox would not show exists is not told: the same answer for one that does not.
      if (h.config.sandbox === "bwrap") {
        expect(await failure(h.live.start({ kind: "shell", cwd: join(outside, "missing") }))).toMatchObject({ field: "cwd", message: expect.stringMatching(/not visible inside/) });
        // Nor through a path that starts in a folder the sandbox shows and climbs out of it.
        for (const climbing of [`/usr/..${outside}`, `/usr/..${outside}/missing`]) {
          expect(await failure(h.live.start({ kind: "shell", cwd: climbing }))).toMatchObject({ field: "cwd", message: expect.stringMatching(/not visible inside/) });
        }
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("keeps the working directory, variables, functions and aliases from one exec to the next", async () => {
    await shell();
    await h.live.exec("sh", "mkdir -p sub/dir && cd sub/dir");
    await h.live.exec("sh", "export GREETING=hello; plain=kept");
    await h.live.exec("sh", "greet() { echo \"$GREETING, $1\"; }");
    await h.live.exec("sh", "alias ll='echo listed'");
    const result = await h.live.exec("sh", 'pwd; echo "$plain"; greet world; ll; bash -c \'echo child sees $GREETING\'');
    expect(result.stdout).toBe(`${join(h.home.home, "workspaces", "sh", "sub", "dir")}\nkept\nhello, world\nlisted\nchild sees hello\n`);
  });

  it("tracks a working directory whose name holds a newline, a quote or a marker byte", async () => {
    await shell();
    const name = "we ird\nname'\x07x";
    await h.live.exec("sh", `mkdir -p $'we ird\\nname\\'\\x07x' && cd $'we ird\\nname\\'\\x07x'`);
    const expected = join(h.home.home, "workspaces", "sh", name);
    expect(h.live.describe("sh")?.cwd).toBe(expected);
    expect((await h.live.exec("sh", "pwd")).stdout).toBe(`${expected}\n`);
  });

  it("reports exit codes, including $? carried into the next exec", async () => {
    await shell();
    expect(await h.live.exec("sh", "true")).toMatchObject({ exit_code: 0, status: "ok" });
    expect(await h.live.exec("sh", "false")).toMatchObject({ exit_code: 1, status: "error" });
    expect(await h.live.exec("sh", "(exit 42)")).toMatchObject({ exit_code: 42, status: "error" });
    expect((await h.live.exec("sh", "echo $?")).stdout).toBe("42\n");
    expect(await h.live.exec("sh", "no-such-command-here")).toMatchObject({ exit_code: 127, status: "error" });
    // And back to 0 after a success.
    expect((await h.live.exec("sh", "true")).exit_code).toBe(0);
    expect((await h.live.exec("sh", "echo $?")).stdout).toBe("0\n");
  });

  it("keeps set -x traces out of stdout: they are stderr, as at a terminal", async () => {
    await shell();
    await h.live.exec("sh", "set -x");
    const traced = await h.live.exec("sh", "echo a");
    expect(traced.stdout).toBe("a\n");
    expect(traced.stderr).toMatch(/^\+* ?echo a$/m);
    await h.live.exec("sh", "set +x");
    // Unset, the traces go back to the command's stderr, and the protocol's pipe stays open.
    await h.live.exec("sh", "unset BASH_XTRACEFD; set -x");
    expect(await h.live.exec("sh", "echo b >&2")).toMatchObject({ status: "ok", stderr: expect.stringContaining("b\n") });
    expect((await h.live.exec("sh", "set +x; echo c")).stdout).toMatch(/c\n$/);
  });

  it("keeps stderr apart from stdout, and returns the terminal's bytes without echo or prompt", async () => {
    await shell();
    const result = await h.live.exec("sh", "echo out; echo err >&2; printf 'no newline'");
    expect(result).toMatchObject({ stdout: "out\nno newline", stderr: "err\n", exit_code: 0, truncated: false });
    expect(result.stdout).not.toContain("echo");
  });

  it("returns every byte of a stderr larger than its pipe, and ends an exec that closed or moved its stderr", async () => {
    await shell();
    // 300 KB of stderr is several pipe-fulls: the command blocks until the pipe is read, and the
    // last of it is still in the pipe when the end marker comes on the terminal.
    const big = await h.live.exec("sh", "head -c 300000 /dev/zero | tr '\\0' e >&2; echo done");
    expect(big).toMatchObject({ stdout: "done\n", exit_code: 0, truncated: false });
    expect(big.stderr).toBe("e".repeat(300_000));
    const closed = await h.live.exec("sh", "exec 2>&-; echo closed");
    expect(closed).toMatchObject({ stdout: "closed\n", stderr: "", exit_code: 0 });
    const moved = await h.live.exec("sh", "echo elsewhere 2>/dev/null >&2; echo kept >&2");
    expect(moved).toMatchObject({ stdout: "", stderr: "kept\n", exit_code: 0 });
    // What a background job writes after its exec ended is not the next exec's.
    await h.live.exec("sh", "(sleep 0.2; echo late >&2) &");
    const next = await h.live.exec("sh", "echo next >&2");
    expect(next.stderr).toBe("next\n");
  });

  it("counts stderr a background job wrote between execs as the job's, not the next exec's", async () => {
    await shell();
    const workspace = join(h.home.home, "workspaces", "sh");
    // Written at once and well before the next exec, and not yet read: the server reads the pipe
    // between execs only every FIFO_IDLE_POLL_MS.
    await h.live.exec("sh", "(echo early >&2; touch wrote) &");
    const deadline = Date.now() + 5000;
    while (!existsSync(join(workspace, "wrote")) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const next = await h.live.exec("sh", "echo mine >&2");
    expect(next.stderr).toBe("mine\n");
    // Queued behind one another, execs start in the turn the last one ended in: each still gets its own.
    const queued = await Promise.all(["a", "b", "c"].map((word) => h.live.exec("sh", `echo ${word} >&2`)));
    expect(queued.map((r) => r.stderr)).toEqual(["a\n", "b\n", "c\n"]);
  });

  it("keeps answering after a command moves its stdout for good (`exec >log`): the output goes where it was sent", async () => {
    await shell();
    expect(await h.live.exec("sh", "exec >moved.log; echo into-the-file")).toMatchObject({ stdout: "", exit_code: 0 });
    expect(await h.live.exec("sh", "echo again; echo err >&2; false")).toMatchObject({ stdout: "", stderr: "err\n", exit_code: 1 });
    expect(await h.live.exec("sh", "exec >/dev/tty; cat moved.log")).toMatchObject({ stdout: "into-the-file\nagain\n", exit_code: 0 });
  });

  it("ends an exec whose stdout a sourced script moved as timed out, not the session: the next exec is answered", async () => {
    await shell();
    // The exec line never says `exec` here, so the server cannot know stdout moves: the end
    // marker goes into the file, and the exec ends by its timeout and the recovery line.
    await h.live.exec("sh", "printf '%s\\n' 'ex''ec >moved.log' > move.sh");
    expect(await h.live.exec("sh", ". ./move.sh; echo in-the-file", { timeout_ms: 1000 })).toMatchObject({ status: "timeout", exit_code: 130 });
    expect(await h.live.exec("sh", "echo quiet; echo loud >&2")).toMatchObject({ status: "ok", stdout: "", stderr: "loud\n", exit_code: 0 });
    const back = await h.live.exec("sh", "exec >/dev/tty; cat moved.log");
    expect(back.stdout).toMatch(/^in-the-file\n.*quiet\n$/s);
  });

  it("leaves the descriptors scripts pick to them: a lock on 10, stdout saved on 12, every low one closed", async () => {
    await shell();
    const script = "exec 10>lock; flock 10; exec 12>&1 >out.log; echo to-log; exec >&12 12>&-; echo restored; exec 10>&-";
    expect(await h.live.exec("sh", script)).toMatchObject({ stdout: "restored\n", exit_code: 0 });
    expect(await h.live.exec("sh", "exec 13>&1 11>/dev/null; ls /nonexistent; echo after")).toMatchObject({ stdout: "after\n", stderr: expect.stringContaining("/nonexistent") });
    await h.live.exec("sh", 'for fd in $(seq 3 200); do eval "exec $fd>&-"; done');
    expect(await h.live.exec("sh", "cat out.log; echo err >&2; false")).toMatchObject({ stdout: "to-log\n", stderr: "err\n", exit_code: 1 });
  });

  it("is not fooled by a command that prints something shaped like its marker", async () => {
    await shell();
    const spoof = String.raw`printf '\e]6973;0123456789abcdef01234567;0;\a'; printf '\e]6973;go\a'; printf '\e]6973;deadbeef\a' >&2; sleep 0.05; echo still-running; exit 3`;
    const result = await h.live.exec("sh", `( ${spoof} )`);
    expect(result.exit_code).toBe(3);
    expect(result.stdout).toContain("still-running");
    expect(result.stdout).toContain("\x1b]6973;0123456789abcdef01234567;0;\x07");
    expect(result.stderr).toContain("\x1b]6973;deadbeef\x07");
    // Code in the session knows the nonce (everything the shell holds is readable to it), so it can
    // end its own exec; a marker that declares a cwd longer than any path is not waited for, and
    // what follows it is output.
    const huge = await h.live.exec("sh", String.raw`( printf '\e]6973;%s;0;999999999:' "$__sd_n"; echo after; exit 4 )`);
    expect(huge.exit_code).toBe(4);
    expect(huge.stdout).toContain("after");
    // A status bash never reports (out of 0–255) is no marker either: output, not an exit code.
    const outOfRange = await h.live.exec("sh", String.raw`( printf '\e]6973;%s;99999999999999999999999;\a' "$__sd_n"; echo after; exit 5 )`);
    expect(outOfRange).toMatchObject({ exit_code: 5, stdout: expect.stringContaining("after") });
    // The output of an earlier exec, replayed, does not end a later one either.
    const first = await h.live.exec("sh", "echo one");
    const replay = await h.live.exec("sh", `printf '%s' ${JSON.stringify(JSON.stringify(first))} >/dev/null; echo two`);
    expect(replay.stdout).toBe("two\n");
  });

  it("runs multi-line commands, heredocs and compound statements as one exec", async () => {
    await shell();
    const script = ["NAME=world", "cat <<EOF", "hello $NAME", "  indented line", "EOF", "for i in 1 2 3; do", "  echo \"n=$i\"", "done", "if true; then", "  echo yes", "fi"].join("\n");
    const result = await h.live.exec("sh", script);
    expect(result).toMatchObject({ exit_code: 0, stdout: "hello world\n  indented line\nn=1\nn=2\nn=3\nyes\n" });
    const quoted = await h.live.exec("sh", "cat <<'RAW'\n$NAME `x` \\n 'q' \"d\"\nRAW");
    expect(quoted.stdout).toBe("$NAME `x` \\n 'q' \"d\"\n");
  });

  it("reports a syntax error as a failed exec and stays usable", async () => {
    await shell();
    const broken = await h.live.exec("sh", "echo 'unterminated");
    expect(broken).toMatchObject({ status: "error", exit_code: 2 });
    expect(broken.stderr).toMatch(/unexpected EOF/);
    expect((await h.live.exec("sh", "echo fine")).stdout).toBe("fine\n");
  });

  it("gives commands that read stdin an immediate end of file", async () => {
    await shell();
    const result = await h.live.exec("sh", 'read line; echo "read=$? line=[$line]"; cat; wc -c', { timeout_ms: 5_000 });
    expect(result).toMatchObject({ stdout: "read=1 line=[]\n0\n", status: "ok" });
    expect(result.duration_ms).toBeLessThan(1_000);
  });

  it("carries any byte of input exactly: quotes, backslashes, control characters and UTF-8", async () => {
    await shell();
    const text = "it's \"quoted\" \\ $HOME `tick` \t tab — ünïcödé 🎉 \x01\x02\x03\x04\x1a\x7f";
    const result = await h.live.exec("sh", `cat <<'EOF'\n${text}\nEOF`);
    expect(result.stdout).toBe(`${text}\n`);
  });

  it("runs an input far longer than a terminal line", async () => {
    await shell();
    const lines = Array.from({ length: 3000 }, (_, i) => `echo line-${i} 'padding to make the script long enough' >/dev/null`);
    const script = `${lines.join("\n")}\necho done ${lines.length}`;
    expect(Buffer.byteLength(script)).toBeGreaterThan(150_000);
    const result = await h.live.exec("sh", script);
    expect(result).toMatchObject({ stdout: "done 3000\n", exit_code: 0 });
  });

  it("keeps output that is not UTF-8 exactly, in stdout_base64, and shows it replaced in stdout", async () => {
    await shell();
    const result = await h.live.exec("sh", String.raw`printf 'ok \xff\xfe end'; printf '\xc3' >&2`);
    expect(result.stdout).toBe("ok \ufffd\ufffd end");
    expect(Buffer.from(result.stdout_base64!, "base64")).toEqual(Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe, 0x20, 0x65, 0x6e, 0x64]));
    expect(Buffer.from(result.stderr_base64!, "base64")).toEqual(Buffer.from([0xc3]));
    const clean = await h.live.exec("sh", "echo plain");
    expect(clean.stdout_base64).toBeUndefined();
  });

  it("persists each exec as an exec event whose seq is the result's, and lists them as logs", async () => {
    const session = await shell();
    const a = await h.live.exec("sh", "echo a");
    const b = await h.live.exec("sh", "echo b >&2; false");
    expect(b.seq).toBeGreaterThan(a.seq);
    const events = await h.manager.listEvents(session.id, { types: ["exec"] });
    expect(events.map((e) => e.seq)).toEqual([a.seq, b.seq]);
    expect(events[1]!.data).toMatchObject({ exec_id: b.exec_id, input: "echo b >&2; false", stderr: "b\n", exit_code: 1, status: "error" });
    expect(await h.live.logs("sh")).toEqual([a, b]);
    expect(await h.live.logs("sh", { since: a.seq })).toEqual([b]);
    expect(await h.live.logs("sh", { since: String(a.seq) })).toEqual([b]);
    expect(await h.live.logs("sh", { since: a.started_at, limit: 1 })).toEqual([a]);
    expect(await failure(h.live.logs("sh", { since: "yesterday" }))).toMatchObject({ code: "validation", field: "since" });
    expect(a).toMatchObject({ input: "echo a", stdout: "a\n", stderr: "", exit_code: 0, status: "ok", truncated: false });
    expect(Date.parse(a.started_at)).not.toBeNaN();
    expect(a.duration_ms).toBeGreaterThan(0);
  });

  it("streams each exec's output as chunks with offsets that add up to the result", async () => {
    await shell();
    const chunks: { stream: string; offset: number; data: string }[] = [];
    const stop = h.live.onOutput((e) => chunks.push({ stream: e.stream, offset: e.offset, data: e.data.toString() }));
    const result = await h.live.exec("sh", "for i in $(seq 1 200); do echo line $i; done; echo warn >&2");
    stop();
    const stdout = chunks.filter((c) => c.stream === "stdout");
    expect(stdout.map((c) => c.data).join("")).toBe(result.stdout);
    let offset = 0;
    for (const chunk of stdout) {
      expect(chunk.offset).toBe(offset);
      offset += Buffer.byteLength(chunk.data);
    }
    expect(chunks.filter((c) => c.stream === "stderr").map((c) => c.data).join("")).toBe("warn\n");
  });

  it("resizes its terminal", async () => {
    await shell();
    await h.live.resize("sh", 100, 40);
    expect((await h.live.exec("sh", "stty size </dev/tty")).stdout).toBe("40 100\n");
    expect(await failure(h.live.resize("sh", 0, 40))).toMatchObject({ code: "validation", field: "cols" });
  });

  it("lists its live sessions", async () => {
    const session = await shell("listed");
    expect(h.live.list()).toEqual([
      expect.objectContaining({ id: session.id, mode: "shell", state: expect.objectContaining({ status: "live" }), session_id: session.id, name: "listed", kind: "shell", pid: session.runtime_metadata.pid, running_exec_id: null, queued: 0 }),
    ]);
  });
});
