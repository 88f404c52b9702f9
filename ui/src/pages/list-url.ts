import { type ListSort, SORT_KEYS } from "../api/sessions.js";

/**
 * What the list's URL asks for that it cannot show (a shared link with a typo, an old bookmark):
 * a sort by something that is no column, an order that is neither way. The list then shows its
 * default for that part, rewrites the URL to what it shows, and says so with this sentence;
 * undefined when the URL is fine. `shown` is the order the list took from the URL.
 * @example
 * listUrlProblem("?sort=colour&order=up", { key: "created_at", descending: true })
 * // "This link asks for sort=colour and order=up, which this list does not offer: it is shown newest first."
 */
export function listUrlProblem(search: string, shown: ListSort): string | undefined {
  const params = new URLSearchParams(search);
  const wrong: string[] = [];
  const sort = params.get("sort");
  if (sort !== null && !(SORT_KEYS as readonly string[]).includes(sort)) wrong.push(`sort=${sort}`);
  const order = params.get("order");
  if (order !== null && order !== "asc" && order !== "desc") wrong.push(`order=${order}`);
  if (wrong.length === 0) return undefined;
  return `This link asks for ${wrong.join(" and ")}, which this list does not offer: it is shown ${describeSort(shown)}.`;
}

/** An order in words: "newest first", "by name, descending". */
export function describeSort(sort: ListSort): string {
  if (sort.key === "created_at") return sort.descending ? "newest first" : "oldest first";
  return `by ${sort.key.replaceAll("_", " ")}, ${sort.descending ? "descending" : "ascending"}`;
}
