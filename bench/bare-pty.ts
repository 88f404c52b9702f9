import { createRequire } from "node:module";
import { tmpdir } from "node:os";

/** One bash on a PTY with no setup beyond what reading a marker needs: the floor of a PTY round trip. */
export class BarePty {
  private buffer = "";
  private waiting: (() => void) | undefined;
  private sent = 0;

  private constructor(private readonly pty: import("node-pty").IPty) {
    pty.onData((data) => {
      this.buffer += data;
      this.waiting?.();
    });
  }

  static async open(): Promise<BarePty> {
    const nodePty = createRequire(import.meta.url)("node-pty") as typeof import("node-pty");
    const pty = nodePty.spawn("bash", ["--norc", "--noprofile", "--noediting", "-i"], {
      name: "xterm-256color",
      cols: 120,
      rows: 30,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), PS1: "", LANG: "C.UTF-8" },
    });
    const bare = new BarePty(pty);
    pty.write("stty -echo -onlcr; PS1=''; echo READY\n");
    await bare.until("READY\n");
    return bare;
  }

  /** `true`, then a marker echoed, read back. */
  async roundTrip(): Promise<void> {
    const marker = `__M${this.sent++}__`;
    this.pty.write(`true; echo ${marker}\n`);
    await this.until(marker);
  }

  /** `n` round trips, one after another. @returns each one's time in ms */
  async loop(n: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await this.roundTrip();
      times.push(performance.now() - started);
    }
    return times;
  }

  close(): void {
    this.pty.kill("SIGKILL");
  }

  private until(marker: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const at = this.buffer.indexOf(marker);
        if (at < 0) return;
        this.buffer = this.buffer.slice(at + marker.length);
        this.waiting = undefined;
        resolve();
      };
      this.waiting = check;
      check();
    });
  }
}
