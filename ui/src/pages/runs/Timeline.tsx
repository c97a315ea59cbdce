// A run's timeline: one bar per step from its start to its end (or now), live.
import type { StepView } from "../../api/types";
import { toneOf } from "../../components/Status";
import { durationOf, useNow } from "../../components/time";

export function Timeline({ steps }: { steps: StepView[] }) {
  const now = useNow(steps.some((s) => s.status === "STARTED"));
  const started = steps.filter((s) => s.started_time).map((s) => Date.parse(s.started_time as string));
  if (started.length === 0) return <p className="muted">No step has started yet.</p>;
  const t0 = Math.min(...started);
  const t1 = Math.max(now, ...steps.map((s) => (s.finished_time ? Date.parse(s.finished_time) : 0)));
  const span = Math.max(1, t1 - t0);
  return (
    <div className="timeline" role="list" aria-label="Timeline of the steps">
      {steps.map((s) => {
        const start = s.started_time ? Date.parse(s.started_time) : null;
        const end = s.finished_time ? Date.parse(s.finished_time) : now;
        return (
          <div className="timeline-row" role="listitem" key={s.step_uuid}>
            <span className="timeline-label">{s.title || s.file_path}</span>
            <span className="timeline-track">
              {start !== null && (
                <span
                  className={`timeline-bar tone-${toneOf(s.status)}`}
                  style={{ left: `${(100 * (start - t0)) / span}%`, width: `${Math.max(0.5, (100 * (end - start)) / span)}%` }}
                  title={`${s.status}, attempt ${s.attempt}, ${durationOf(s.started_time, s.finished_time, now)}`}
                />
              )}
            </span>
            <span className="timeline-time">{durationOf(s.started_time, s.finished_time, now)}</span>
          </div>
        );
      })}
    </div>
  );
}
