import { spawn } from "node:child_process";

/** What a finished child process printed, and how it ended. */
export interface NodeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` in a child process (env added to this one's) and collects its output. */
export function runNode(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("exit", (status) => resolve({ status, stdout, stderr }));
  });
}
