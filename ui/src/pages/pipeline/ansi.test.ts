import { describe, expect, it } from "vitest";
import { parseAnsi } from "./ansi";

describe("parseAnsi", () => {
  it("plain text is one segment", () => {
    expect(parseAnsi("hello\n")).toEqual([{ text: "hello\n", fg: null, bold: false }]);
  });
  it("colours, bright colours, bold and reset", () => {
    expect(parseAnsi("\x1b[31mred\x1b[0m \x1b[1;92mok\x1b[m!")).toEqual([
      { text: "red", fg: 1, bold: false },
      { text: " ", fg: null, bold: false },
      { text: "ok", fg: 10, bold: true },
      { text: "!", fg: null, bold: false },
    ]);
  });
  it("drops other escape sequences", () => {
    expect(parseAnsi("a\x1b[2Kb")).toEqual([{ text: "ab", fg: null, bold: false }]);
  });
});
