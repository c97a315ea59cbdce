import { describe, expect, it } from "vitest";
import type { SessionView } from "../../../api/types";
import { labFileLink } from "./lab";

const session = (status: string, url: string | null = "http://127.0.0.1:8888/"): SessionView =>
  ({ status, jupyter_url: url, jupyter_token: "t k" }) as unknown as SessionView;

describe("a step's file in JupyterLab", () => {
  it("is the Lab tree path of the file, with the session's token", () => {
    expect(labFileLink(session("RUNNING"), "nb/load data.ipynb")).toBe(
      "http://127.0.0.1:8888/lab/tree/nb/load%20data.ipynb?token=t%20k",
    );
    expect(labFileLink(session("RUNNING", "http://h:1/base"), "a.py")).toBe("http://h:1/base/lab/tree/a.py?token=t%20k");
  });
  it("needs a running session", () => {
    expect(labFileLink(session("LAUNCHING"), "a.py")).toBeNull();
    expect(labFileLink(session("RUNNING", null), "a.py")).toBeNull();
    expect(labFileLink(null, "a.py")).toBeNull();
  });
});
