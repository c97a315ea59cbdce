import { describe, expect, it } from "vitest";
import type { BuildList, BuildView, EnvironmentBuildChanged, EnvironmentList, EnvironmentView } from "../api/types";
import { applyBuildEvent, applyBuildListEvent, applyEnvironmentListEvent } from "./builds";

const build = (uuid = "b1", status: BuildView["status"] = "PENDING"): BuildView =>
  ({ uuid, environment_uuid: "e", project_uuid: "p", builder: "process", status, created_time: "2026-01-01T00:00:00Z" }) as BuildView;

const event = (status: string, second: number, uuid = "b1", extra: Partial<EnvironmentBuildChanged> = {}): EnvironmentBuildChanged =>
  ({
    kind: "environment_build_changed",
    event_id: `${uuid}.${status}`,
    project_uuid: "p",
    environment_uuid: "e",
    build_uuid: uuid,
    status,
    reason: null,
    exit_code: null,
    occurred_at: `2026-01-01T00:00:${String(second).padStart(2, "0")}Z`,
    ...extra,
  }) as EnvironmentBuildChanged;

describe("environment_build_changed", () => {
  it("moves a build to STARTED, then to its end with the exit code and times", () => {
    const started = applyBuildEvent(build(), event("STARTED", 1));
    expect(started).toMatchObject({ status: "STARTED", started_time: "2026-01-01T00:00:01Z", finished_time: null });
    const failed = applyBuildEvent(started, event("FAILURE", 4, "b1", { exit_code: 3, reason: "exit code 3" }));
    expect(failed).toMatchObject({ status: "FAILURE", exit_code: 3, reason: "exit code 3", finished_time: "2026-01-01T00:00:04Z" });
  });

  it("drops a duplicate and an event overtaken by a later one", () => {
    const done = applyBuildEvent(applyBuildEvent(build(), event("STARTED", 1)), event("SUCCESS", 2));
    expect(applyBuildEvent(done, event("SUCCESS", 2))).toBe(done);
    expect(applyBuildEvent(done, event("STARTED", 1))).toBe(done);
    expect(applyBuildEvent(done, event("PENDING", 0))).toBe(done);
  });

  it("takes the end even when STARTED was missed", () => {
    expect(applyBuildEvent(build(), event("ABORTED", 3)).status).toBe("ABORTED");
  });

  it("updates the build in a list; a build the list lacks asks for a read", () => {
    const list: BuildList = { builds: [build("b2", "PENDING"), build("b1", "SUCCESS")] };
    const moved = applyBuildListEvent(list, event("STARTED", 1, "b2"));
    expect(moved.known).toBe(true);
    expect(moved.list.builds.map((b) => b.status)).toEqual(["STARTED", "SUCCESS"]);
    const same = applyBuildListEvent(list, event("SUCCESS", 1, "b1"));
    expect(same).toEqual({ list, known: true });
    expect(applyBuildListEvent(list, event("PENDING", 1, "b3")).known).toBe(false);
  });

  it("moves an environment's latest build; a newer build asks for a read", () => {
    const env = { uuid: "e", name: "py", project_uuid: "p", project_dir: "/x", latest_build: build("b1", "STARTED") } as EnvironmentView;
    const other = { ...env, uuid: "f", latest_build: null } as EnvironmentView;
    const list: EnvironmentList = { environments: [env, other] };
    const done = applyEnvironmentListEvent(list, event("SUCCESS", 2));
    expect(done.known).toBe(true);
    expect(done.list.environments[0]?.latest_build?.status).toBe("SUCCESS");
    expect(done.list.environments[1]).toBe(other);
    expect(applyEnvironmentListEvent(list, event("PENDING", 3, "b9")).known).toBe(false);
  });
});
