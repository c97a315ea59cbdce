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

describe("extended colours", () => {
  it("38;5;n picks the nearest of the 16 and its arguments are no codes", () => {
    // 31 here is the colour's index, not "red foreground".
    expect(parseAnsi("\x1b[38;5;31mx\x1b[38;5;9my\x1b[38;5;250mz")).toEqual([
      { text: "x", fg: 6, bold: false },
      { text: "y", fg: 9, bold: false },
      { text: "z", fg: 7, bold: false },
    ]);
  });
  it("IPython's traceback codes: bold-and-colour, true colour, backgrounds dropped", () => {
    expect(parseAnsi("\x1b[0;31mValueError\x1b[0m: \x1b[1;32mok\x1b[38;2;255;0;0;48;5;21mred")).toEqual([
      { text: "ValueError", fg: 1, bold: false },
      { text: ": ", fg: null, bold: false },
      { text: "ok", fg: 2, bold: true },
      { text: "red", fg: 9, bold: true },
    ]);
  });
});
