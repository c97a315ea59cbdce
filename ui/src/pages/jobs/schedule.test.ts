import { describe, expect, it } from "vitest";
import { atWithOffset, cronShapeProblem, offsetText, previewable, scheduleBody, zoneLabel, type ScheduleForm } from "./schedule";

const form = (changes: Partial<ScheduleForm>): ScheduleForm => ({ kind: "now", at: "", cron: "", ...changes });

describe("the schedule form", () => {
  it("now sends no schedule", () => {
    expect(scheduleBody(form({ kind: "now" }), 60)).toEqual({ schedule: {}, problem: null });
  });

  it("a local time is sent with its offset, whatever the zone", () => {
    expect(scheduleBody(form({ kind: "at", at: "2026-03-01T09:30" }), 60).schedule).toEqual({
      scheduled_start: "2026-03-01T09:30:00+01:00",
    });
    expect(atWithOffset("2026-07-01T23:05", -330)).toBe("2026-07-01T23:05:00-05:30");
    expect(atWithOffset("2026-07-01T23:05:07", 0)).toBe("2026-07-01T23:05:07+00:00");
  });

  it("no time is a problem, not a request", () => {
    expect(scheduleBody(form({ kind: "at", at: "" }), 0)).toEqual({ schedule: null, problem: "pick a date and a time" });
  });

  it("a cron expression is sent with its spaces tidied", () => {
    expect(scheduleBody(form({ kind: "cron", cron: " */5  * * * * " }), 0).schedule).toEqual({ cron_schedule: "*/5 * * * *" });
  });

  it("a cron expression without five fields is refused before asking the server", () => {
    expect(cronShapeProblem("* * *")).toMatch(/five fields.*not 3/);
    expect(scheduleBody(form({ kind: "cron", cron: "@daily" }), 0).problem).toMatch(/five fields/);
    expect(previewable(form({ kind: "cron", cron: "* * *" }))).toBeNull();
  });

  it("only a cron schedule of five fields is previewed", () => {
    expect(previewable(form({ kind: "cron", cron: "0  3 * * *" }))).toBe("0 3 * * *");
    expect(previewable(form({ kind: "now", cron: "0 3 * * *" }))).toBeNull();
    expect(previewable(form({ kind: "at", cron: "0 3 * * *" }))).toBeNull();
  });

  it("says the zone with its offset", () => {
    expect(offsetText(0)).toBe("+00:00");
    expect(offsetText(570)).toBe("+09:30");
    expect(zoneLabel("Europe/Brussels", 60)).toBe("Europe/Brussels (UTC+01:00)");
  });
});
