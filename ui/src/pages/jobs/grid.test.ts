import { describe, expect, it } from "vitest";
import type { PipelineDefinition } from "../../api/types";
import {
  combinations,
  describeSet,
  expandGrid,
  gridFromDefinition,
  gridProblems,
  parseValue,
  PIPELINE,
  selectedSets,
  toggleRow,
  type GridParam,
} from "./grid";

const definition = {
  uuid: "p",
  name: "quickstart",
  parameters: { rows: 200, seed: 7 },
  steps: {
    s1: { uuid: "s1", title: "Train", file_path: "train.py", parameters: { test_fraction: 0.2 } },
    s2: { uuid: "s2", title: "Clean", file_path: "clean.py", parameters: {} },
  },
} as unknown as PipelineDefinition;

const twoByTwo = (): GridParam[] => [
  { scope: PIPELINE, scopeLabel: "Pipeline", name: "seed", values: ["7", "8"] },
  { scope: "s1", scopeLabel: "Train", name: "test_fraction", values: ["0.2", "0.3"] },
];

describe("the grid of a pipeline", () => {
  it("has each pipeline and step parameter with its value as the one value", () => {
    expect(gridFromDefinition(definition)).toEqual([
      { scope: PIPELINE, scopeLabel: "Pipeline", name: "rows", values: ["200"] },
      { scope: PIPELINE, scopeLabel: "Pipeline", name: "seed", values: ["7"] },
      { scope: "s1", scopeLabel: "Train", name: "test_fraction", values: ["0.2"] },
    ]);
  });

  it("as it is, makes one run with the definition's values", () => {
    const rows = expandGrid(gridFromDefinition(definition));
    expect(rows.map((r) => r.set)).toEqual([{ [PIPELINE]: { rows: 200, seed: 7 }, s1: { test_fraction: 0.2 } }]);
  });
});

describe("values", () => {
  it.each([
    ["1", 1],
    [' "a b" ', "a b"],
    ["[1, 2]", [1, 2]],
    ['{"k": null}', { k: null }],
    ["true", true],
  ])("%s is JSON", (raw, value) => {
    expect(parseValue(raw)).toEqual({ ok: true, value });
  });

  it("a bare word, an empty value and broken JSON are refused, a string hinted", () => {
    expect(parseValue("abc")).toEqual({ ok: false, error: 'not a JSON value (a string: "abc")' });
    expect(parseValue("  ").ok).toBe(false);
    expect(parseValue("[1,").ok).toBe(false);
  });

  it("every bad value is listed at its place, a repeat too", () => {
    const grid = twoByTwo();
    grid[0] = { ...grid[0]!, values: ["7", "x", "7.0"] };
    grid[1] = { ...grid[1]!, values: ["{", "0.3"] };
    expect(gridProblems(grid)).toEqual([
      { param: 0, value: 1, error: 'not a JSON value (a string: "x")' },
      { param: 0, value: 2, error: "given twice" },
      { param: 1, value: 0, error: "not a JSON value" },
    ]);
    expect(expandGrid(grid)).toEqual([]);
  });
});

describe("expansion", () => {
  it("a 2x2 grid makes 4 runs, the last parameter varying fastest", () => {
    const grid = twoByTwo();
    expect(combinations(grid)).toBe(4);
    const rows = expandGrid(grid);
    expect(rows.map((r) => r.set)).toEqual([
      { [PIPELINE]: { seed: 7 }, s1: { test_fraction: 0.2 } },
      { [PIPELINE]: { seed: 7 }, s1: { test_fraction: 0.3 } },
      { [PIPELINE]: { seed: 8 }, s1: { test_fraction: 0.2 } },
      { [PIPELINE]: { seed: 8 }, s1: { test_fraction: 0.3 } },
    ]);
    expect(rows[1]?.cells).toEqual([
      ["Pipeline", "seed", "7"],
      ["Train", "test_fraction", "0.3"],
    ]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(4);
  });

  it("two parameters of one scope share its object", () => {
    const grid: GridParam[] = [
      { scope: PIPELINE, scopeLabel: "Pipeline", name: "a", values: ["1"] },
      { scope: PIPELINE, scopeLabel: "Pipeline", name: "b", values: ["2", "3"] },
    ];
    expect(expandGrid(grid).map((r) => r.set)).toEqual([{ [PIPELINE]: { a: 1, b: 2 } }, { [PIPELINE]: { a: 1, b: 3 } }]);
  });

  it("no parameters: one empty set (the pipeline as it is)", () => {
    expect(expandGrid([]).map((r) => r.set)).toEqual([{}]);
    expect(combinations([])).toBe(1);
  });

  it("more than 10,000 combinations are counted, not expanded", () => {
    const big: GridParam[] = [0, 1].map((i) => ({
      scope: PIPELINE,
      scopeLabel: "Pipeline",
      name: `p${i}`,
      values: Array.from({ length: 101 }, (_, v) => String(v)),
    }));
    expect(combinations(big)).toBe(10_201);
    expect(expandGrid(big)).toEqual([]);
  });
});

describe("deselected rows", () => {
  it("are left out of the sets sent, the others kept in order", () => {
    const rows = expandGrid(twoByTwo());
    let off = toggleRow(new Set(), rows[1]!.key);
    off = toggleRow(off, rows[2]!.key);
    expect(selectedSets(rows, off)).toEqual([rows[0]!.set, rows[3]!.set]);
    off = toggleRow(off, rows[1]!.key);
    expect(selectedSets(rows, off)).toEqual([rows[0]!.set, rows[1]!.set, rows[3]!.set]);
  });

  it("stay deselected when another value is added (a row is known by its set)", () => {
    const rows = expandGrid(twoByTwo());
    const off = toggleRow(new Set(), rows[3]!.key); // seed 8, 0.3
    const grid = twoByTwo();
    grid[0] = { ...grid[0]!, values: ["7", "8", "9"] };
    const grown = expandGrid(grid);
    expect(grown).toHaveLength(6);
    const sent = selectedSets(grown, off);
    expect(sent).toHaveLength(5);
    expect(sent).not.toContainEqual({ [PIPELINE]: { seed: 8 }, s1: { test_fraction: 0.3 } });
  });
});

describe("a run's parameters shortly", () => {
  it("names pipeline parameters alone and step parameters with their step", () => {
    expect(describeSet({ [PIPELINE]: { seed: 7 }, s1: { test_fraction: 0.2 } }, { s1: "Train" })).toBe(
      "seed=7 · Train test_fraction=0.2",
    );
    expect(describeSet(null)).toBe("");
  });
});
