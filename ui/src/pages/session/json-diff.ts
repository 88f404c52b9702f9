import type { Json } from "../../api/types.js";

/** One difference between two JSON values, at a path like `files.2` or `plan.steps`. */
export interface Change {
  readonly path: string;
  readonly kind: "added" | "removed" | "changed";
  readonly before?: Json;
  readonly after?: Json;
}

const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What changed from `before` to `after`, leaf by leaf: objects by key, arrays by index, anything
 * else compared whole. Stops after `max` changes (the caller says there are more).
 */
export function diffJson(before: Json | undefined, after: Json | undefined, max: number): { changes: Change[]; more: boolean } {
  const changes: Change[] = [];
  let more = false;
  const walk = (a: Json | undefined, b: Json | undefined, path: string) => {
    if (changes.length >= max) {
      more = true;
      return;
    }
    if (a === undefined && b === undefined) return;
    if (a === undefined) return void changes.push({ path, kind: "added", after: b! });
    if (b === undefined) return void changes.push({ path, kind: "removed", before: a });
    if (isObject(a) && isObject(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], path ? `${path}.${key}` : key);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], path ? `${path}.${i}` : String(i));
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) changes.push({ path, kind: "changed", before: a, after: b });
  };
  walk(before, after, "");
  return { changes, more };
}
