import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One request the fake server received. */
export interface FakeRequest {
  readonly authorization: string | undefined;
  readonly body: {
    model: string;
    stream?: boolean;
    messages: { role: string; content: string | null }[];
    stream_options?: unknown;
  };
}

/**
 * A fake OpenAI-compatible chat completions server on a loopback port 0, for llm session tests.
 * What it answers depends on the last user message:
 *
 * - `status 429` / `status 500`: that HTTP status (every time);
 * - `flaky`: 503 on the first attempt of the turn, then an answer (so a retry succeeds);
 * - `hang`: accepts the request and never answers;
 * - `slow`: streams one token, then hangs (an interrupt/timeout mid-reply);
 * - `tool`: an assistant message with a tool call (`get_weather`); a tool answer after it gets
 *   `the tool said: <content>`;
 * - `what did I say?`: the previous user message, proving the history was sent;
 * - `first message?`: the first user message of the conversation, and a newline;
 * - `say hello`: `hello` and a newline;
 * - `status 400 <text>`: that status, `<text>` in the error message;
 * - anything else: `echo: <message>`, streamed word by word when `stream` is true.
 *
 * Usage is reported as 10 prompt tokens + one completion token per word.
 */
export class FakeOpenAI {
  readonly requests: FakeRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly attemptsByMessage = new Map<string, number>();
  private constructor(private readonly server: Server) {
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeOpenAI> {
    let fake!: FakeOpenAI;
    const server = createServer((req, res) => void fake.handle(req, res));
    fake = new FakeOpenAI(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  /** The base URL to configure (`…/v1`). */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** Requests whose last user message is `text`. */
  attemptsFor(text: string): number {
    return this.requests.filter((r) => lastUser(r.body.messages) === text).length;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as FakeRequest["body"];
    this.requests.push({ authorization: req.headers.authorization, body });
    const said = lastUser(body.messages);
    const attempt = (this.attemptsByMessage.get(said) ?? 0) + 1;
    this.attemptsByMessage.set(said, attempt);
    const status = /^status (\d{3})(.*)$/.exec(said);
    if (status) return void res.writeHead(Number(status[1]), { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `fake ${status[1]}${status[2]}` } }));
    if (said === "flaky" && attempt === 1) return void res.writeHead(503).end("try again");
    if (said === "hang") return; // never answers; the socket is destroyed at close
    if (said === "tool" && body.messages[body.messages.length - 1]?.role === "user") return this.answerTool(body, res);
    const last = body.messages[body.messages.length - 1]!;
    let reply = said === "say hello" ? "hello\n" : `echo: ${said}`;
    if (last.role === "tool") reply = `the tool said: ${last.content}`;
    if (said === "first message?") reply = `${body.messages.find((m) => m.role === "user")?.content ?? ""}\n`;
    if (said === "what did I say?") {
      const users = body.messages.filter((m) => m.role === "user");
      reply = `you said: ${users[users.length - 2]?.content ?? "nothing"}`;
    }
    const words = reply.split(/(?<= )/);
    const usage = { prompt_tokens: 10, completion_tokens: words.length, total_tokens: 10 + words.length };
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "c1", model: body.model, choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }], usage }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    for (const word of words) {
      send({ id: "c1", model: body.model, choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
      if (said === "slow") return; // one token, then nothing
      await new Promise((resolve) => setImmediate(resolve));
    }
    send({ id: "c1", model: body.model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    if (body.stream_options) send({ id: "c1", model: body.model, choices: [], usage });
    res.end("data: [DONE]\n\n");
  }

  private answerTool(body: FakeRequest["body"], res: ServerResponse): void {
    const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ model: body.model, choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [call] }, finish_reason: "tool_calls" }], usage }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    send({ model: body.model, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":' } }] } }] });
    send({ model: body.model, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: "tool_calls" }] });
    if (body.stream_options) send({ model: body.model, choices: [], usage });
    res.end("data: [DONE]\n\n");
  }
}

function lastUser(messages: FakeRequest["body"]["messages"]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === "user") return messages[i]!.content ?? "";
  return "";
}
