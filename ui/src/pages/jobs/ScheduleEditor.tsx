// When the job runs: now, once at a time (in the browser's zone, shown), or
// on a cron schedule (UTC) with its next firing times asked of the server
// before saving.
import { useEffect, useState } from "react";
import { ApiError } from "../../api/client";
import { useSchedulePreview } from "../../api/queries";
import { formatTime } from "../../components/time";
import { localOffset, previewable, scheduleBody, zoneLabel, type ScheduleForm, type ScheduleKind } from "./schedule";

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

const KINDS: [ScheduleKind, string][] = [
  ["now", "Now (once)"],
  ["at", "Once, at a time"],
  ["cron", "On a cron schedule"],
];

/** `value`, once it has stayed the same for `ms` (no request per keystroke). */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return settled;
}

export function ScheduleEditor({ form, onForm }: { form: ScheduleForm; onForm: (f: ScheduleForm) => void }) {
  const cron = useSettled(previewable(form), 250);
  const preview = useSchedulePreview(cron);
  const offset = localOffset(form.at || new Date().toISOString().slice(0, 16));
  const local = scheduleBody(form, offset).problem;
  const refused = preview.error instanceof ApiError ? preview.error : null;
  return (
    <div className="schedule-editor">
      <div role="radiogroup" aria-label="Schedule" className="inline-form">
        {KINDS.map(([kind, label]) => (
          <label key={kind}>
            <input
              type="radio"
              name="schedule-kind"
              value={kind}
              checked={form.kind === kind}
              onChange={() => onForm({ ...form, kind })}
            />{" "}
            {label}
          </label>
        ))}
      </div>
      {form.kind === "now" && <p className="muted">One execution as soon as the job is started.</p>}
      {form.kind === "at" && (
        <p>
          <input
            type="datetime-local"
            aria-label="Start at"
            value={form.at}
            onChange={(e) => onForm({ ...form, at: e.target.value })}
          />{" "}
          <span className="muted" data-testid="time-zone">
            in {zoneLabel(ZONE, offset)}
          </span>
        </p>
      )}
      {form.kind === "cron" && (
        <>
          <p>
            <input
              aria-label="Cron expression"
              data-testid="cron-input"
              value={form.cron}
              size={24}
              aria-invalid={local || refused ? true : undefined}
              onChange={(e) => onForm({ ...form, cron: e.target.value })}
            />{" "}
            <span className="muted">minute hour day-of-month month day-of-week, in UTC</span>
          </p>
          {cron && preview.data && !refused && preview.data.cron_schedule === cron && (
            <div data-testid="next-firings">
              Next firing times (UTC schedule, shown in {ZONE}):
              <ol className="firings">
                {preview.data.next_times.map((t) => (
                  <li key={t}>
                    <time dateTime={t}>{formatTime(t)}</time> <span className="muted">({t.replace("T", " ").replace("Z", " UTC")})</span>
                  </li>
                ))}
              </ol>
            </div>
          )}
          {cron && preview.isFetching && !preview.data && <p className="muted">Asking the scheduler…</p>}
          {refused && (
            <ul className="field-problems" role="alert" data-testid="cron-problems">
              {(refused.errors.length ? refused.errors.map((e) => e.msg) : [refused.message]).map((msg) => (
                <li key={msg}>
                  <span aria-hidden="true">✖</span> {msg}
                </li>
              ))}
            </ul>
          )}
          {preview.error && !refused && <p className="field-problem">The scheduler could not be asked: {String(preview.error)}</p>}
        </>
      )}
      {local && form.kind !== "now" && (
        <p className="field-problem" role="alert">
          <span aria-hidden="true">✖</span> {local}
        </p>
      )}
    </div>
  );
}
