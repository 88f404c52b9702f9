/**
 * The saver's shortcut for plain JSON (src/adapters/langgraph/plain-json.ts) against LangGraph's
 * own JsonPlusSerializer, as installed: wherever the shortcut answers, it answers exactly what
 * the serializer does — the same bytes written, the same value read back.
 */
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { parsesPlain, plainJsonText } from "../../src/adapters/langgraph/plain-json.js";

const serde = new JsonPlusSerializer();

function nested(levels: number): unknown {
  let value: unknown = "core";
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { level: value };
  return value;
}

/** Values the shortcut writes itself. */
const PLAIN: [string, unknown][] = [
  ["a string", "text"],
  ["an empty string", ""],
  ["numbers", [0, -0, 1.5, -2e-7, 1e21, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity]],
  ["booleans and null", [true, false, null]],
  ["unicode, NUL, a lone surrogate, quotes and control characters", "é 漢字 🎉 \u0000 \ud800 \"q\" \\ \n\t\u001f"],
  ["a chat", { messages: Array.from({ length: 20 }, (_, i) => `message ${i}`), step: 3 }],
  ["an object without a prototype", Object.assign(Object.create(null) as object, { a: 1 })],
  ["an own __proto__ key written", JSON.parse('{"__proto__":{"x":1},"y":2}') as unknown],
  ["nesting within the bound", nested(40)],
  ["a string that says lc", { note: '"lc": 2' }],
];

/** Values the shortcut leaves to the serializer, which rewrites them or reads them otherwise. */
const NOT_PLAIN: [string, unknown][] = [
  ["undefined", undefined],
  ["undefined in an object", { a: undefined }],
  ["undefined in an array", [1, undefined]],
  ["a hole in an array", [1, , 3]],
  ["a Set", new Set([1])],
  ["a Map", new Map([["a", 1]])],
  ["a Date", new Date(0)],
  ["a RegExp", /x/g],
  ["an Error", new Error("boom")],
  ["bytes", new Uint8Array([1, 2])],
  ["a Send", { lg_name: "Send", node: "n", args: {} }],
  ["an lc record", { lc: 2, type: "undefined" }],
  ["a class instance", new (class Point { x = 1; })()],
  ["an object with toJSON", { toJSON: () => "x" }],
  ["a function", () => 1],
  ["nesting past the bound", nested(80)],
];

async function serdeText(value: unknown): Promise<string> {
  const [type, bytes] = await serde.dumpsTyped(value);
  expect(type).toBe("json");
  return Buffer.from(bytes).toString("utf8");
}

describe("the saver's plain JSON shortcut", () => {
  it.each(PLAIN)("writes %s exactly as the serializer does, and reads it back as it does", async (_, value) => {
    const text = plainJsonText(value);
    expect(text).toBeDefined();
    expect(text).toBe(await serdeText(value));
    expect(parsesPlain(text!)).toBe(!text!.includes('"__proto__"') && !text!.includes('"lc"'));
    if (parsesPlain(text!)) expect(JSON.parse(text!)).toStrictEqual(await serde.loadsTyped("json", text!));
  });

  it.each(NOT_PLAIN)("leaves %s to the serializer", (_, value) => {
    expect(plainJsonText(value)).toBeUndefined();
  });

  it("reads with the serializer what it revives: its own records, and an own __proto__ key", async () => {
    for (const value of [new Set([1]), new Map([["a", 1]]), undefined, [1, undefined], { bytes: new Uint8Array([1]) }]) {
      expect(parsesPlain(await serdeText(value))).toBe(false);
    }
    expect(parsesPlain('{"__proto__":{"x":1}}')).toBe(false);
  });
});
