/**
 * Seed 004's webhooks with no server at all: the embedded API delivers the events it writes to
 * the webhooks `configureWebhook` registered, signed and retried.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { closeSessions, completeSession, configureSessions, configureWebhook, pauseSession, sessionManager, startSession } from "sessiond";
import { compiledTree } from "../helpers/compiled-tree.js";
import { runNode } from "../helpers/run-node.js";
import { tempHome } from "../helpers/temp-home.js";
import { type Receiver, startReceiver } from "../events/support/receiver.js";
import { PUBLIC_WEBHOOK_URLS, REFUSED_WEBHOOK_URLS } from "../events/support/refused-targets.js";
import { waitFor } from "../events/support/wait.js";

let home: ReturnType<typeof tempHome> | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await closeSessions();
  await receiver?.close();
  home?.remove();
  home = undefined;
  receiver = undefined;
});

it("delivers an embedded process's events to a webhook from configureWebhook, signed, through a failure", async () => {
  home = tempHome();
  receiver = await startReceiver({ script: [500], secret: "s3cret" });
  configureSessions({ home: home.home, config: { webhookAllowHosts: ["127.0.0.1"], webhookBackoffBaseMs: 10, webhookBackoffMaxMs: 50 } });
  configureWebhook(receiver.url, { events: ["start", "complete"], secret: "s3cret" });

  const session = await startSession("Implement feature X", "developer", { userId: "user123", channelId: "channel456" });
  await pauseSession(session.id, "not delivered: filtered out");
  await completeSession(session.id, "Feature implemented");

  await waitFor("both deliveries", () => receiver!.accepted().length === 2);
  expect(receiver.received).toHaveLength(3);
  expect(receiver.received.every((r) => r.verified === true)).toBe(true);
  const payloads = receiver.accepted().map((r) => r.payload as { event: string; session: Record<string, unknown> });
  expect(payloads.map((p) => p.event).sort()).toEqual(["complete", "start"]);
  expect(payloads.find((p) => p.event === "complete")!.session).toEqual({
    id: session.id,
    mode: "developer",
    status: "completed",
    task: "Implement feature X",
    userId: "user123",
    channelId: "channel456",
  });
});

it("delivers from a script that ends right after its last write, without closeSessions", async () => {
  home = tempHome();
  receiver = await startReceiver();
  // Inside the package compiled for this run (test/helpers/compiled-tree.ts), where `sessiond` resolves to it.
  const dir = mkdtempSync(join(compiledTree(), "embedded-webhooks-"));
  const script = join(dir, "agent.mjs");
  writeFileSync(
    script,
    [
      `import { configureWebhook, startSession, completeSession } from "sessiond";`,
      `configureWebhook(${JSON.stringify(receiver.url)}, { events: ["complete"] });`,
      `const s = await startSession("One shot", "cli");`,
      `await completeSession(s.id, "done");`,
      `console.log(s.id);`,
    ].join("\n"),
  );
  const run = await runNode([script], { env: { SESSIOND_HOME: home!.home, SESSIOND_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } }).finally(() => rmSync(dir, { recursive: true, force: true }));
  // The compiled tree holds no dashboard build (dist/ui: `npm run build` makes one, the test run's
  // compile does not), and the owner's server warns of that; nothing else may be printed.
  const noDashboard = (line: string) => {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      return entry.level === 40 && entry.msg === `"root" path "${join(compiledTree(), "dist", "ui")}/" must exist`;
    } catch {
      return false;
    }
  };
  expect(run.stderr.split("\n").filter((line) => !noDashboard(line)).join("\n")).toBe("");
  expect(run.status).toBe(0);
  // The process stayed up until the delivery was made: it is there when the process has exited.
  expect(receiver.accepted().map((r) => (r.payload as { event: string; session: { id: string } }).session.id)).toEqual([run.stdout.trim()]);
});

it("refuses configureWebhook to private, local and metadata targets and URLs with credentials, naming url, unless webhookAllowHosts lists them", async () => {
  home = tempHome();
  configureSessions({ home: home.home });
  for (const url of REFUSED_WEBHOOK_URLS) {
    expect(() => configureWebhook(url), url).toThrow(expect.objectContaining({ code: "validation", field: "url" }));
  }
  expect(await sessionManager().listWebhooks()).toEqual([]);
  for (const url of PUBLIC_WEBHOOK_URLS) expect(configureWebhook(url).url).toBe(url);

  configureSessions({ home: home.home, config: { webhookAllowHosts: ["192.168.0.0/16", "metadata.google.internal"] } });
  expect(configureWebhook("http://192.168.1.10/hook").url).toBe("http://192.168.1.10/hook");
  expect(configureWebhook("http://metadata.google.internal/x").url).toBe("http://metadata.google.internal/x");
  expect(() => configureWebhook("http://10.0.0.5/hook")).toThrow(expect.objectContaining({ code: "validation", field: "url" }));
  expect(() => configureWebhook("https://user:pw@192.168.1.10/hook")).toThrow(expect.objectContaining({ code: "validation", field: "url" }));
});

it("refuses an event name it does not know, naming it, in the process that owns the data dir too", () => {
  home = tempHome();
  configureSessions({ home: home.home });
  expect(() => configureWebhook("https://example.com/hook", { events: ["start", "bogus" as "start"] })).toThrow(
    expect.objectContaining({ code: "validation", field: "events.1", message: expect.stringContaining("expected one of start, pause, resume, complete, error, timeout") }),
  );
});
