import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { isAlive, ownerAlive } from "../../src/store/owner-record.js";

/** Whether the process a data dir's owner record names still owns it. */
describe("ownerAlive", () => {
  it("takes a killed owner its parent has not reaped yet (a zombie) for gone, though its pid still answers", async () => {
    // `sleep 60 &` is the owner; its parent then becomes a process that never reaps it.
    const parent = spawn("sh", ["-c", "sleep 60 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once("line", resolve)));
      // Killed while sh has not exec'd sleep yet, the owner would be reaped by sh: wait for the exec.
      for (let i = 0; i < 500 && readFileSync(`/proc/${parent.pid}/comm`, "utf8").trim() !== "sleep"; i++) await new Promise((r) => setTimeout(r, 10));
      const started = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]);
      expect(ownerAlive({ pid, pid_started: started })).toBe(true);
      expect(ownerAlive({ pid, pid_started: started + 1 })).toBe(false); // A reused pid: another process.
      process.kill(pid, "SIGKILL");
      for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "); i++) await new Promise((r) => setTimeout(r, 10));
      expect(isAlive(pid)).toBe(true);
      expect(ownerAlive({ pid, pid_started: started })).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
