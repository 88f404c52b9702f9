import { afterEach, beforeEach, expect } from "vitest";
import { sleep } from "./wait.js";

/** Resource kinds a test could leave open: sockets, servers, child processes, timers. */
const WATCHED = new Set(["TCPSocketWrap", "TCPServerWrap", "TCPWRAP", "ProcessWrap", "PipeWrap", "Timeout", "Immediate", "FSReqCallback"]);

function census(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function excess(baseline: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of census()) {
    const before = baseline.get(kind) ?? 0;
    if (n > before) out.push(`${kind} ×${n - before}`);
  }
  return out;
}

/**
 * Registers hooks asserting each test of the file leaves no socket, server, child process or
 * timer behind: what is open after it (given a moment to finish closing) must not exceed what
 * was open before it.
 */
export function expectNoLeakedHandles(settleMs = 2000): void {
  let baseline = new Map<string, number>();
  beforeEach(() => {
    baseline = census();
  });
  afterEach(async () => {
    const deadline = Date.now() + settleMs;
    let leaked = excess(baseline);
    while (leaked.length && Date.now() < deadline) {
      await sleep(20);
      leaked = excess(baseline);
    }
    expect(leaked, "handles left open by the test").toEqual([]);
  });
}
