import { describe, expect, it } from "vitest";
import { NotebookError, readNotebook, selectData, selectOutput } from "./notebook";

describe("selectData: the one representation shown", () => {
  it("an image before text", () => {
    expect(selectData({ "image/png": "iVBO\nRw==", "text/plain": "<Figure>" })).toEqual({
      kind: "image",
      src: "data:image/png;base64,iVBORw==",
    });
  });
  it("SVG only as an image (an <img> runs no script)", () => {
    const shown = selectData({ "image/svg+xml": ["<svg>", "</svg>"] });
    expect(shown).toEqual({ kind: "image", src: "data:image/svg+xml;charset=utf-8,%3Csvg%3E%3C%2Fsvg%3E" });
  });
  it("plain text before HTML (a DataFrame shows as its text)", () => {
    expect(selectData({ "text/html": "<table/>", "text/plain": ["   a\n", "0  1"] })).toEqual({ kind: "text", text: "   a\n0  1" });
  });
  it("HTML alone is shown (sandboxed), Markdown before text, nothing known: nothing", () => {
    expect(selectData({ "text/html": "<b>x</b>" })).toEqual({ kind: "html", html: "<b>x</b>" });
    expect(selectData({ "text/markdown": "**m**", "text/plain": "m" })).toEqual({ kind: "markdown", text: "**m**" });
    expect(selectData({ "application/javascript": "alert(1)" })).toBeNull();
  });
});

describe("selectOutput", () => {
  it("streams and errors", () => {
    expect(selectOutput({ output_type: "stream", name: "stderr", text: ["a", "b"] })).toEqual({ kind: "stream", name: "stderr", text: "ab" });
    expect(selectOutput({ output_type: "error", ename: "ValueError", evalue: "bad", traceback: ["\x1b[0;31mValueError\x1b[0m", "bad"] })).toEqual({
      kind: "error",
      ename: "ValueError",
      evalue: "bad",
      traceback: "\x1b[0;31mValueError\x1b[0m\nbad",
    });
  });
  it("execute results by their data; unknown output types dropped", () => {
    expect(selectOutput({ output_type: "execute_result", data: { "text/plain": "42" }, execution_count: 1 })).toEqual({ kind: "text", text: "42" });
    expect(selectOutput({ output_type: "clear_output" })).toBeNull();
  });
});

describe("readNotebook", () => {
  const nb = {
    nbformat: 4,
    cells: [
      { cell_type: "markdown", source: ["# Title\n", "text"] },
      {
        cell_type: "code",
        source: "print(1)\nprint(2)",
        execution_count: 3,
        outputs: [
          { output_type: "stream", name: "stdout", text: "1\n" },
          { output_type: "stream", name: "stdout", text: "2\n" },
          { output_type: "display_data", data: { "application/x-unknown": "?" } },
        ],
      },
      { cell_type: "raw", source: "raw" },
    ],
  };
  it("cells in order, a print's pieces joined, outputs not shown dropped", () => {
    expect(readNotebook(JSON.stringify(nb))).toEqual([
      { kind: "markdown", source: "# Title\ntext" },
      { kind: "code", source: "print(1)\nprint(2)", count: 3, outputs: [{ kind: "stream", name: "stdout", text: "1\n2\n" }] },
      { kind: "raw", source: "raw" },
    ]);
  });
  it("not a notebook: an error saying why", () => {
    expect(() => readNotebook("{")).toThrow(NotebookError);
    expect(() => readNotebook("{}")).toThrow("no cells");
  });
});
