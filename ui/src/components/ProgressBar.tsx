import type { RunView } from "../api/types";
import { progressOf } from "../live/runs";

export function ProgressBar({ run }: { run: Pick<RunView, "pipeline_steps"> }) {
  const p = progressOf(run);
  const pct = (n: number) => (p.total ? (100 * n) / p.total : 0);
  const label = `${p.ended} of ${p.total} steps ended${p.failed ? `, ${p.failed} failed` : ""}${
    p.running ? `, ${p.running} running` : ""
  }`;
  return (
    <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={p.total} aria-valuenow={p.ended} aria-label={label} title={label}>
      <div className="progress-success" style={{ width: `${pct(p.succeeded)}%` }} />
      <div className="progress-failure" style={{ width: `${pct(p.failed)}%` }} />
      <div className="progress-running" style={{ width: `${pct(p.running)}%` }} />
      <span className="progress-text">
        {p.ended}/{p.total}
      </span>
    </div>
  );
}
