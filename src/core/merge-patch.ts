/**
 * JSON Merge Patch (RFC 7396, section 2): objects merge recursively, `null` deletes a member,
 * anything else replaces. Pure: neither argument is modified; untouched branches are shared.
 * Written here rather than taken from a package because the algorithm is the RFC's ten lines
 * and the maintained packages mutate their target.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
