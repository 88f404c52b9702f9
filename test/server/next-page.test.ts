import { describe, expect, it } from "vitest";
import { withCursor } from "../../src/server/server-context.js";

describe("withCursor (the Link header's next-page URL)", () => {
  it("adds the cursor to a URL with no query or an empty one", () => {
    expect(withCursor("/sessions/", "abc")).toBe("/sessions/?cursor=abc");
    expect(withCursor("/sessions/?", "abc")).toBe("/sessions/?cursor=abc");
  });

  it("replaces the cursor the request had, however its name was encoded, and keeps the other parameters as sent", () => {
    expect(withCursor("/sessions/?status=active&cursor=old&limit=50", "new")).toBe("/sessions/?status=active&limit=50&cursor=new");
    expect(withCursor("/sessions/?%63ursor=old&labels=a%3Db", "new")).toBe("/sessions/?labels=a%3Db&cursor=new");
    expect(withCursor("/sessions/?cursor=a&cursor=b&x=1", "new")).toBe("/sessions/?x=1&cursor=new");
  });

  it("keeps a parameter whose name only starts like cursor, and one whose name is not valid percent-encoding", () => {
    expect(withCursor("/e?cursors=1&%zz=2", "c")).toBe("/e?cursors=1&%zz=2&cursor=c");
  });

  it("encodes the cursor", () => {
    expect(withCursor("/e", "a b&c=d")).toBe("/e?cursor=a%20b%26c%3Dd");
  });
});
