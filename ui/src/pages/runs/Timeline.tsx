// A run's timeline: a row per step, a bar per attempt (retries side by side),
// live: running attempts grow with the clock and new attempts appear as
// their events come. Hovering (or focusing) a bar shows its times and state.
import type { StepAttempt, StepView } from "../../api/types";
import { lookOf } from "../../components/Status";
import { formatDuration, formatTime, useNow } from "../../components/time";
import { timelineGeometry, type Bar } from "./timeline";
import "./timeline.css";

function describe(bar: Bar): string {
  const look = lookOf(bar.status);
  const end = bar.end ? formatTime(bar.end) : "running";
  const exit = bar.exit_code !== null ? `, exit code ${bar.exit_code}` : "";
  return `Attempt ${bar.attempt}: ${look.label}, ${formatTime(bar.start)} → ${end} (${formatDuration(bar.duration)})${exit}`;
}

function AttemptBar({ bar }: { bar: Bar }) {
  const look = lookOf(bar.status);
  return (
    <span
      className={`timeline-bar tone-${look.tone}`}
      style={{ left: `${bar.left}%`, width: `${bar.width}%` }}
      data-attempt={bar.attempt}
      data-status={bar.status}
      tabIndex={0}
      aria-label={describe(bar)}
    >
      <span className="timeline-bar-icon" aria-hidden="true">
        {look.icon}
        {bar.attempt > 1 ? ` #${bar.attempt}` : ""}
      </span>
      <span className="timeline-tip" role="tooltip">
        <strong>
          {look.icon} Attempt {bar.attempt}: {look.label}
        </strong>
        <br />
        Started {formatTime(bar.start)}
        <br />
        {bar.end ? `Ended ${formatTime(bar.end)}` : "Running"} · {formatDuration(bar.duration)}
        {bar.exit_code !== null && (
          <>
            <br />
            Exit code {bar.exit_code}
          </>
        )}
        {bar.error && (
          <>
            <br />
            {bar.error}
          </>
        )}
      </span>
    </span>
  );
}

export function Timeline({ steps, attempts }: { steps: StepView[]; attempts: StepAttempt[] }) {
  const running = steps.some((s) => s.status === "STARTED");
  const now = useNow(running);
  const g = timelineGeometry(steps, attempts, now);
  if (!g) return <p className="muted">No step has started yet.</p>;
  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-row timeline-axis" aria-hidden="true">
        <span className="timeline-label" />
        <span className="timeline-track">
          {g.ticks.map((t) => (
            <span key={t.label} className="timeline-tick" style={{ left: `${t.left}%` }}>
              {t.label}
            </span>
          ))}
        </span>
        <span className="timeline-time" />
      </div>
      <ul className="timeline-rows" aria-label="Timeline of the steps and their attempts">
        {g.rows.map((row) => (
          <li className="timeline-row" key={row.step_uuid} data-row-step={row.step_uuid}>
            <span className="timeline-label" title={row.title}>
              {row.title}
            </span>
            <span className="timeline-track">
              {row.bars.map((bar) => (
                <AttemptBar key={bar.attempt} bar={bar} />
              ))}
            </span>
            <span className="timeline-time">
              {row.bars.length > 0 ? formatDuration(row.bars.reduce((t, b) => t + b.duration, 0)) : ""}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}
