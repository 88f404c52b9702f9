// sessiond's LLM session helper: talks to an OpenAI-compatible chat completions endpoint, one turn
// per request, in a process (and process group) of its own like every live session.
//
// sessiond builds each turn (the whole conversation, trimmed: see llm-driver.ts) and writes one
// JSON request per line on fd 3; this helper answers one JSON line per request on fd 4. The
// assistant's reply is written on stdout as it arrives (token by token with `stream: true`), so
// the session stream shows it live. Requests:
//
//   {"id", "op": "exec", "url", "key"?, "body": {...chat completion request},
//    "attempts", "backoffBaseMs", "backoffMaxMs", "timeoutMs"}
//   {"id", "op": "state"}
//
// Retries (cockatiel, exponential backoff with jitter) on 429, 5xx, network errors and a request
// that goes `timeoutMs` without a byte — but never once part of a reply was shown. The key comes
// in the request, only for the Authorization header: never printed, never logged.

import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { serveRequests } from "../interpreter/helper-protocol.mjs";


/** A failed attempt; `retryable` says whether another attempt may help. */
class AttemptError extends Error {
  constructor(message, retryable) {
    super(message);
    this.retryable = retryable;
  }
}

let current;
process.on("SIGINT", () => current?.abort());

/** One turn: the request with retries; the reply text is streamed to stdout as it comes. */
async function runTurn(request) {
  const interrupt = new AbortController();
  current = interrupt;
  const turn = { content: "", toolCalls: [], usage: undefined, model: undefined, finishReason: undefined, shown: false, attempts: 0 };
  const policy = retry(
    handleWhen((err) => err instanceof AttemptError && err.retryable && !turn.shown && !interrupt.signal.aborted),
    { maxAttempts: Math.max(0, request.attempts - 1), backoff: new ExponentialBackoff({ initialDelay: request.backoffBaseMs, maxDelay: request.backoffMaxMs }) },
  );
  try {
    await policy.execute(() => attempt(request, turn, interrupt.signal), interrupt.signal);
    return {
      ok: true,
      content: turn.content,
      ...(turn.toolCalls.length ? { tool_calls: turn.toolCalls } : {}),
      ...(turn.usage ? { usage: turn.usage } : {}),
      model: turn.model ?? request.body.model,
      finish_reason: turn.finishReason ?? null,
      attempts: turn.attempts,
    };
  } catch (err) {
    const interrupted = interrupt.signal.aborted;
    const why = interrupted ? "interrupted" : String(err?.message ?? err);
    const tries = turn.attempts === 1 ? "1 attempt" : `${turn.attempts} attempts`;
    return { ok: false, interrupted, content: turn.content, attempts: turn.attempts, error: `llm request failed after ${tries}: ${why}` };
  } finally {
    current = undefined;
  }
}

/** One HTTP attempt, bounded by an idle timeout (reset by every byte received). */
async function attempt(request, turn, interruptSignal) {
  turn.attempts++;
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  interruptSignal.addEventListener("abort", onInterrupt);
  let timedOut = false;
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, request.timeoutMs);
  };
  arm();
  try {
    const response = await fetch(request.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: request.body.stream ? "text/event-stream" : "application/json", ...(request.key ? { authorization: `Bearer ${request.key}` } : {}) },
      body: JSON.stringify(request.body),
      signal: controller.signal,
    });
    arm();
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).slice(0, 500);
      const retryable = response.status === 429 || response.status >= 500;
      throw new AttemptError(`HTTP ${response.status} ${response.statusText}${text ? `: ${text}` : ""}`, retryable);
    }
    if (request.body.stream) await readStream(response, turn, arm);
    else readWhole(await response.json(), turn);
  } catch (err) {
    if (err instanceof AttemptError) throw err;
    if (interruptSignal.aborted) throw new AttemptError("interrupted", false);
    if (timedOut) throw new AttemptError(`no answer from ${new URL(request.url).host} for ${request.timeoutMs} ms (llmRequestTimeoutMs)`, true);
    throw new AttemptError(`${err?.message ?? err}${err?.cause?.code ? ` (${err.cause.code})` : ""}`, true);
  } finally {
    clearTimeout(timer);
    interruptSignal.removeEventListener("abort", onInterrupt);
  }
}

function show(turn, text) {
  if (!text) return;
  turn.shown = true;
  turn.content += text;
  process.stdout.write(text);
}

/** Server-sent events: `data: {chunk}` lines, `data: [DONE]` at the end. */
async function readStream(response, turn, arm) {
  const decoder = new TextDecoder();
  let held = "";
  for await (const bytes of response.body) {
    arm();
    held += decoder.decode(bytes, { stream: true });
    let nl;
    while ((nl = held.indexOf("\n")) >= 0) {
      const line = held.slice(0, nl).replace(/\r$/, "");
      held = held.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      let chunk;
      try {
        chunk = JSON.parse(data);
      } catch {
        continue;
      }
      if (chunk.error) throw new AttemptError(`the endpoint reported an error mid-stream: ${JSON.stringify(chunk.error).slice(0, 500)}`, false);
      turn.model ??= chunk.model;
      if (chunk.usage) turn.usage = chunk.usage;
      for (const choice of chunk.choices ?? []) {
        const delta = choice.delta ?? {};
        show(turn, typeof delta.content === "string" ? delta.content : "");
        for (const call of delta.tool_calls ?? []) mergeToolCall(turn, call);
        if (choice.finish_reason) turn.finishReason = choice.finish_reason;
      }
    }
  }
}

/** Streamed tool calls come in pieces by index: name first, arguments in fragments. */
function mergeToolCall(turn, piece) {
  const index = piece.index ?? turn.toolCalls.length;
  const call = (turn.toolCalls[index] ??= { id: piece.id, type: piece.type ?? "function", function: { name: "", arguments: "" } });
  if (piece.id) call.id = piece.id;
  if (piece.function?.name) call.function.name += piece.function.name;
  if (piece.function?.arguments) call.function.arguments += piece.function.arguments;
}

function readWhole(body, turn) {
  const choice = body?.choices?.[0];
  if (!choice) throw new AttemptError(`the endpoint answered without a choice: ${JSON.stringify(body).slice(0, 500)}`, false);
  turn.model = body.model;
  turn.usage = body.usage;
  turn.finishReason = choice.finish_reason;
  if (Array.isArray(choice.message?.tool_calls)) turn.toolCalls = choice.message.tool_calls;
  show(turn, typeof choice.message?.content === "string" ? choice.message.content : "");
}

function showToolCalls(turn) {
  for (const call of turn.tool_calls ?? []) process.stdout.write(`${turn.content ? "\n" : ""}[tool call] ${call.function?.name}(${call.function?.arguments ?? ""})\n`);
}

serveRequests(async (request) => {
  const outcome = await runTurn(request);
  if (outcome.ok) showToolCalls(outcome);
  return outcome;
}, `node ${process.versions.node} (llm client)`);
