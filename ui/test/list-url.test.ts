import { describe, expect, it } from "vitest";
import { parseLabels } from "../src/api/sessions.js";
import { describeSort, listUrlProblem } from "../src/pages/list-url.js";

describe("the list's URL and filters as typed", () => {
  it("names a sort or an order the list does not offer, and the order it shows instead", () => {
    expect(listUrlProblem("?sort=colour&order=up", { key: "created_at", descending: true })).toBe(
      "This link asks for sort=colour and order=up, which this list does not offer: it is shown newest first.",
    );
    expect(listUrlProblem("?sort=name&order=sideways", { key: "name", descending: true })).toContain("order=sideways");
    expect(listUrlProblem("?status=active&sort=name&order=asc", { key: "name", descending: false })).toBeUndefined();
    expect(listUrlProblem("", { key: "created_at", descending: true })).toBeUndefined();
    expect(describeSort({ key: "last_activity_at", descending: false })).toBe("by last activity at, ascending");
  });

  it("passes a label without = or : on as it is, for the server to refuse as it refuses any malformed label", () => {
    expect(parseLabels("justakey")).toEqual(["justakey"]);
    expect(parseLabels("env=prod, justakey")).toEqual(["env:prod", "justakey"]);
  });
});
