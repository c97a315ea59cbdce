import { describe, expect, it } from "vitest";
import { diskNote, EMPTY_INPUT, environmentBody, envRowsOf, isGoing, problemsByField } from "./form";

describe("the environment form", () => {
  it("sends the fields trimmed and the variables as an object", () => {
    const body = environmentBody({
      ...EMPTY_INPUT,
      name: "  jokes ",
      baseImage: " orchest/base-kernel-py ",
      setupScript: "pip install pyjokes\n",
      env: [{ name: "A", value: "1" }],
    });
    expect(body).toEqual({
      name: "jokes",
      language: "python",
      base_image: "orchest/base-kernel-py",
      setup_script: "pip install pyjokes\n",
      env_variables: { A: "1" },
    });
  });

  it("reads the variables back as rows", () => {
    expect(envRowsOf({ A: "1", B: "" })).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "" },
    ]);
    expect(envRowsOf(undefined)).toEqual([]);
  });

  it("puts each problem at its field, a body's or a command's", () => {
    const found = problemsByField([
      { loc: ["name"], msg: "String should have at most 255 characters", type: "string_too_long" },
      { loc: ["spec", "language"], msg: "Input should be 'python'", type: "literal_error" },
      { loc: ["spec", "env_variables", "1A"], msg: "not a variable name", type: "value_error" },
      { loc: [], msg: "an environment of this name exists", type: "conflict" },
    ]);
    expect(found).toEqual({
      name: ["String should have at most 255 characters"],
      language: ["Input should be 'python'"],
      env: ["1A: not a variable name"],
      other: ["an environment of this name exists"],
    });
  });

  it("allows a cancel only while a build is going", () => {
    expect(["PENDING", "STARTED", "SUCCESS", "FAILURE", "ABORTED"].filter((s) => isGoing(s as never))).toEqual([
      "PENDING",
      "STARTED",
    ]);
  });
});

describe("a build's venv", () => {
  it("is said removed once pruned, on disk while a successful build keeps it", () => {
    // The builder, not the venv's path: a build followed live gets its status
    // from events, which carry no path.
    expect(diskNote({ status: "SUCCESS", builder: "process", pruned_time: "2026-12-07T03:00:00Z" })).toBe("venv removed");
    expect(diskNote({ status: "SUCCESS", builder: "process", pruned_time: null })).toBe("venv on disk");
    expect(diskNote({ status: "SUCCESS", builder: "docker", pruned_time: null })).toBeNull(); // an image
    expect(diskNote({ status: "FAILURE", builder: "process", pruned_time: null })).toBeNull();
  });
});
