import { describe, expect, it } from "vitest";
import { shortened } from "./shortened";

describe("shortened", () => {
  it("keeps a text that fits", () => {
    expect(shortened("step 12", 22)).toBe("step 12");
    expect(shortened("a".repeat(22), 22)).toBe("a".repeat(22));
  });

  it("cuts a longer one to the limit, the last character an ellipsis", () => {
    const text = shortened("a fairly long step title here", 22);
    expect(text).toBe("a fairly long step ti…");
    expect(text).toHaveLength(22);
  });

  it("never splits a character made of two UTF-16 units", () => {
    expect(shortened("😀😀😀😀", 3)).toBe("😀😀…");
  });
});
