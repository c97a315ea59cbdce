import { describe, expect, it } from "vitest";
import { envProblems, jobBody, problemsByField, retentionValue } from "./form";

describe("env variables", () => {
  it("each bad name is listed at its row", () => {
    const rows = [
      { name: "A", value: "1" },
      { name: "", value: "x" },
      { name: "1B", value: "" },
      { name: "A", value: "2" },
      { name: "_ok", value: "" },
    ];
    expect(envProblems(rows)).toEqual([null, "a name is needed", "letters, digits and _, not first a digit", "given twice", null]);
  });
});

describe("the body of POST /api/jobs", () => {
  it("names the pipeline by reference and carries every part", () => {
    const body = jobBody({
      name: " nightly ",
      project: "pr",
      pipeline: "pl",
      sets: [{ pipeline_parameters: { seed: 7 } }],
      env: [{ name: "K", value: "v" }],
      schedule: { cron_schedule: "0 3 * * *" },
      retention: { all: false, keep: 10 },
      draft: true,
    });
    expect(body).toEqual({
      name: "nightly",
      project_uuid: "pr",
      pipeline_uuid: "pl",
      parameters: [{ pipeline_parameters: { seed: 7 } }],
      env_variables: { K: "v" },
      schedule: { cron_schedule: "0 3 * * *" },
      max_retained_pipeline_runs: 10,
      draft: true,
    });
  });

  it("keeping every run is -1", () => {
    expect(retentionValue({ all: true, keep: 5 })).toBe(-1);
    expect(retentionValue({ all: false, keep: 0 })).toBe(0);
  });
});

describe("the API's problems", () => {
  it("go to the fields they name, a parameter set's with its row", () => {
    const found = problemsByField([
      { loc: ["schedule", "cron_schedule"], msg: "not a valid cron schedule", type: "cron_invalid" },
      { loc: ["parameters", 1, "nope"], msg: "'nope' is neither", type: "unknown_step" },
      { loc: ["name"], msg: "too short", type: "string_too_short" },
      { loc: ["pipeline_uuid"], msg: "no such pipeline", type: "x" },
      { loc: ["max_retained_pipeline_runs"], msg: ">= -1", type: "x" },
      { loc: ["env_variables", "K"], msg: "a string", type: "x" },
      { loc: ["idempotency_key"], msg: "odd", type: "x" },
      { loc: [], msg: "whole", type: "x" },
    ]);
    expect(found).toEqual({
      schedule: ["not a valid cron schedule"],
      parameters: ["row 2 (nope): 'nope' is neither"],
      name: ["too short"],
      pipeline: ["no such pipeline"],
      retention: [">= -1"],
      env: ["a string"],
      other: ["odd", "whole"],
    });
  });
});
