/**
 * A mode that ships outside sessiond: `calc`, a calculator that keeps its variables across execs
 * (docs/drivers.md walks through it). Load it into a server with config
 * `"driverModules": ["./examples/calc-mode.ts"]` (a server run through tsx; compile it to .js for
 * a plain `sessiond serve`), or pass it to `buildApp({ drivers: [calcDriver] })`. Then:
 *
 *   POST /session/start {"mode": "calc"}          → {"id": "…", …}
 *   POST /session/{id}/exec {"input": "r = 2"}    → stdout ""
 *   POST /session/{id}/exec {"input": "3.5 * r^2"} → stdout "14\n"
 *
 * Each line of an exec is `name = expression` (kept for later execs) or an expression (its value
 * printed). Numbers, variables, + - * / % ^, parentheses. An error is the exec's result (stderr,
 * exit code 1), never a throw, and leaves the variables as they were.
 *
 * It runs inside the server process (no child process, so the sandbox has nothing to contain:
 * it evaluates arithmetic and nothing else). A mode that runs programs starts a child in
 * `spec.cwd` with `spec.env`, and honours `spec.sandbox` and `spec.limits`.
 */
import type { ExecOutcome, ExecRequest, LiveProcess, OutputStream, ProcessExit, ProcessState, RuntimeState, SessionDriver, StartSpec } from "sessiond";

/** The driver: `export default` is what a driver module gives sessiond. */
export const calcDriver: SessionDriver = {
  kind: "calc",
  targets: ["local"],
  async start(spec: StartSpec): Promise<LiveProcess> {
    return new CalcProcess(spec.cwd);
  },
};

export default calcDriver;

/** One calc session: its variables, and the LiveProcess contract around them. */
class CalcProcess implements LiveProcess {
  readonly pid = process.pid;
  readonly target = "local";
  readonly details = {};
  state: ProcessState = "ready";
  exit: ProcessExit | undefined;
  private readonly vars = new Map<string, number>();
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();

  constructor(readonly cwd: string) {}

  async exec(request: ExecRequest): Promise<ExecOutcome> {
    if (this.state === "exited") return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: null, truncated: false, processExited: true };
    this.state = "running";
    const out = { stdout: "", stderr: "" };
    let exitCode = 0;
    // All or nothing: an error on a line leaves the variables as they were before the exec.
    const vars = new Map(this.vars);
    for (const [i, line] of request.input.split("\n").entries()) {
      if (line.trim() === "") continue;
      try {
        const assignment = /^\s*([A-Za-z_]\w*)\s*=(?!=)(.*)$/.exec(line);
        if (assignment) vars.set(assignment[1]!, evaluate(assignment[2]!, vars));
        else out.stdout += `${evaluate(line, vars)}\n`;
      } catch (err) {
        out.stderr += `line ${i + 1}: ${(err as Error).message}\n`;
        exitCode = 1;
        break;
      }
    }
    if (exitCode === 0) for (const [name, value] of vars) this.vars.set(name, value);
    this.state = "ready";
    return { ...emit(out, request), exitCode, processExited: false };
  }

  interrupt(): boolean {
    return false; // An exec ends before the next event-loop turn: never anything to interrupt.
  }

  resize(): void {}

  async captureState(): Promise<RuntimeState> {
    return { cwd: this.cwd, env: {} };
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    this.state = "exited";
    this.exit = { exitCode: 0, signal: null };
    for (const listener of this.exitListeners) listener(this.exit);
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  mayChangeState(): boolean {
    return false;
  }
}

/** The exec's output as chunks (stdout first), cut at `maxOutputBytes` of both streams together. */
function emit(out: Record<OutputStream, string>, request: ExecRequest): Pick<ExecOutcome, "stdout" | "stderr" | "truncated"> {
  let room = request.maxOutputBytes;
  let truncated = false;
  const kept = (stream: OutputStream): Buffer => {
    const all = Buffer.from(out[stream]);
    const data = all.subarray(0, Math.max(0, room));
    room -= data.length;
    truncated ||= data.length < all.length;
    if (data.length > 0) request.onChunk?.({ stream, offset: 0, data });
    return data;
  };
  const stdout = kept("stdout");
  return { stdout, stderr: kept("stderr"), truncated };
}

/** Evaluates one arithmetic expression (recursive descent; `^` binds tightest, right to left). */
function evaluate(source: string, vars: ReadonlyMap<string, number>): number {
  const tokens = source.match(/\d+(?:\.\d+)?|[A-Za-z_]\w*|\S/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string): string => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token !== expected)) throw new Error(expected ? `expected ${expected}` : "unexpected end");
    return token;
  };
  const primary = (): number => {
    const token = take();
    if (token === "(") {
      const value = sum();
      take(")");
      return value;
    }
    if (token === "-") return -power();
    if (/^\d/.test(token)) return Number(token);
    if (/^[A-Za-z_]/.test(token)) {
      const value = vars.get(token);
      if (value === undefined) throw new Error(`${token} is not defined`);
      return value;
    }
    throw new Error(`unexpected ${token}`);
  };
  const power = (): number => {
    const base = primary();
    return peek() === "^" ? (take(), base ** power()) : base;
  };
  const product = (): number => {
    let value = power();
    while (peek() === "*" || peek() === "/" || peek() === "%") {
      const op = take();
      const right = power();
      if (op !== "*" && right === 0) throw new Error("division by zero");
      value = op === "*" ? value * right : op === "/" ? value / right : value % right;
    }
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (peek() === "+" || peek() === "-") value = take() === "+" ? value + product() : value - product();
    return value;
  };
  const value = sum();
  if (at < tokens.length) throw new Error(`unexpected ${tokens[at]}`);
  return value;
}
