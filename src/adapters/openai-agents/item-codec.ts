import type { AgentInputItem } from "@openai/agents-core";
import type { JsonObject } from "../../core/session.js";

/** Where a value sits in an item: object keys and array indexes from the top. */
type Path = (string | number)[];

/**
 * An item as an event's data: `{item}`, the item as JSON, readable on the timeline as it is.
 * Two things an item may hold do not survive a JSON store as they are, and are listed beside it so
 * they come back exactly: `binary`, the paths of Uint8Array values (image and file data the SDK
 * takes as raw bytes), kept as base64 text; `escaped`, the paths of strings holding text no store
 * keeps (U+0000, a lone surrogate: docs/api.md, "What a store keeps"), kept as their JSON text.
 * Everything else is as `JSON.stringify` would write it (undefined members left out, NaN → null).
 */
export function encodeItem(item: AgentInputItem): JsonObject {
  const binary: Path[] = [];
  const escaped: Path[] = [];
  const json = toJson(item, [], binary, escaped) as JsonObject;
  return { item: json, ...(binary.length ? { binary } : {}), ...(escaped.length ? { escaped } : {}) };
}

/** The item an event's data holds (encodeItem's inverse). */
export function decodeItem(data: JsonObject): AgentInputItem {
  const binary = data.binary as Path[] | undefined;
  const escaped = data.escaped as Path[] | undefined;
  if (!binary && !escaped) return data.item as unknown as AgentInputItem;
  const item = structuredClone(data.item);
  for (const path of binary ?? []) replaceAt(item, path, (v) => new Uint8Array(Buffer.from(v as string, "base64")));
  for (const path of escaped ?? []) replaceAt(item, path, (v) => JSON.parse(v as string) as string);
  return item as unknown as AgentInputItem;
}

/** Text a store refuses: U+0000, or half of a surrogate pair without its other half. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function toJson(value: unknown, path: Path, binary: Path[], escaped: Path[]): unknown {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string") {
    if (!UNSTORABLE.test(value)) return value;
    escaped.push(path);
    return JSON.stringify(value);
  }
  if (value instanceof Uint8Array) {
    binary.push(path);
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  }
  if (typeof value === "bigint") throw new TypeError(`a bigint at ${path.join(".") || "the top"} has no JSON form`);
  if (typeof value !== "object") return undefined; // functions and symbols, left out as JSON.stringify leaves them
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return toJson(withJson.toJSON(), path, binary, escaped);
  if (Array.isArray(value)) return value.map((v, i) => toJson(v, [...path, i], binary, escaped) ?? null);
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    const json = toJson(v, [...path, key], binary, escaped);
    if (json !== undefined) out[key] = json;
  }
  return out;
}

function replaceAt(root: unknown, path: Path, replace: (value: unknown) => unknown): void {
  let parent = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  parent[last] = replace(parent[last]);
}
