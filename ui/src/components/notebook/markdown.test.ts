import { describe, expect, it } from "vitest";
import { parseInline, parseMarkdown, safeHref } from "./markdown";

describe("parseMarkdown", () => {
  it("headings, paragraphs, lists, code, quotes, rules", () => {
    const blocks = parseMarkdown("# Report\n\nSome *text*\nwrapped.\n\n- one\n- two\n\n1. first\n\n```py\nx = 1\n```\n> quoted\n\n---");
    expect(blocks.map((b) => b.kind)).toEqual(["heading", "paragraph", "list", "list", "code", "quote", "rule"]);
    expect(blocks[0]).toEqual({ kind: "heading", level: 1, inlines: [{ kind: "text", text: "Report" }] });
    expect(blocks[1]).toEqual({
      kind: "paragraph",
      inlines: [{ kind: "text", text: "Some " }, { kind: "em", children: [{ kind: "text", text: "text" }] }, { kind: "text", text: " wrapped." }],
    });
    expect(blocks[2]).toMatchObject({ ordered: false, items: [[{ text: "one" }], [{ text: "two" }]] });
    expect(blocks[3]).toMatchObject({ ordered: true });
    expect(blocks[4]).toEqual({ kind: "code", text: "x = 1" });
  });
  it("raw HTML stays text", () => {
    expect(parseMarkdown("<script>alert(1)</script>")).toEqual([
      { kind: "paragraph", inlines: [{ kind: "text", text: "<script>alert(1)</script>" }] },
    ]);
  });
});

describe("inline marks and links", () => {
  it("code, strong, links", () => {
    expect(parseInline("`a*b*` **bold** [site](https://x.org)")).toEqual([
      { kind: "code", text: "a*b*" },
      { kind: "text", text: " " },
      { kind: "strong", children: [{ kind: "text", text: "bold" }] },
      { kind: "text", text: " " },
      { kind: "link", href: "https://x.org", children: [{ kind: "text", text: "site" }] },
    ]);
  });
  it("a javascript: link loses its target", () => {
    expect(parseInline("[x](javascript:alert(1))")[0]).toMatchObject({ kind: "link", href: null });
    expect(safeHref("JAVASCRIPT:alert(1)")).toBeNull();
    expect(safeHref("data:text/html,x")).toBeNull();
    expect(safeHref("mailto:a@b.c")).toBe("mailto:a@b.c");
    expect(safeHref("#part")).toBe("#part");
  });
});
