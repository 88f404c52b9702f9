import { describe, expect, it } from "vitest";
import { type SseMessage, SseParser } from "../src/api/sse.js";

/** Feeds the chunks in turn and returns the messages parsed. */
function parse(...chunks: string[]): SseMessage[] {
  const out: SseMessage[] = [];
  const parser = new SseParser((m) => out.push(m));
  for (const chunk of chunks) parser.push(chunk);
  return out;
}

describe("the page's SSE parser", () => {
  it("reads a message's event, data and id, and dispatches it at the blank line", () => {
    expect(parse('id: 7:0\nevent: event\ndata: {"seq":7}\n\n')).toEqual([{ event: "event", data: '{"seq":7}', id: "7:0" }]);
  });

  it("joins data lines with a newline and names a message without event 'message'", () => {
    expect(parse("data: a\ndata: b\n\n")).toEqual([{ event: "message", data: "a\nb", id: undefined }]);
  });

  it("skips comments (the heartbeat) and dispatches nothing without data", () => {
    expect(parse(": heartbeat\n\nevent: ready\n\n")).toEqual([]);
  });

  it("parses a message split anywhere between chunks, a CRLF cut in two included", () => {
    const text = 'id: 1\r\nevent: event\r\ndata: {"x":1}\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse(text.slice(0, cut), "", text.slice(cut)), `cut at ${cut}`).toEqual([{ event: "event", data: '{"x":1}', id: "1" }]);
    }
  });

  it("keeps the last id for the next messages, as Last-Event-ID does", () => {
    const messages = parse("id: 3\ndata: a\n\ndata: b\n\n");
    expect(messages.map((m) => m.id)).toEqual(["3", "3"]);
  });

  it("takes a lone CR as the end of a line", () => {
    expect(parse("data: x\r\r")).toEqual([{ event: "message", data: "x", id: undefined }]);
  });
});
