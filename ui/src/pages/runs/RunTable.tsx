// Runs as rows: status, progress (live), pipeline, times.
import type { RunView } from "../../api/types";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatTime, useNow } from "../../components/time";
import { Link } from "../../router";

export function RunTable({ runs, compact = false }: { runs: RunView[]; compact?: boolean }) {
  const now = useNow(runs.some((r) => r.status === "STARTED"));
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  return (
    <table className="table" data-testid="run-table">
      <thead>
        <tr>
          <th>Run</th>
          <th>Status</th>
          <th>Progress</th>
          {!compact && <th>Type</th>}
          <th>Started</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.uuid} data-run={run.uuid}>
            <td>
              <Link to={`/runs/${run.uuid}`}>
                <code>{run.uuid.slice(0, 8)}</code>
              </Link>
              {run.project_uuid && (
                <>
                  {" "}
                  <Link className="muted" to={`/projects/${run.project_uuid}/pipelines/${run.pipeline_uuid}?run=${run.uuid}`}>
                    pipeline
                  </Link>
                </>
              )}
              {run.job_uuid && (
                <>
                  {" "}
                  <Link className="muted" to={`/jobs/${run.job_uuid}`}>
                    job
                  </Link>
                </>
              )}
            </td>
            <td>
              <StatusBadge status={run.status} />
            </td>
            <td className="progress-cell">
              <ProgressBar run={run} />
            </td>
            {!compact && <td>{run.run_type}</td>}
            <td>{formatTime(run.started_time ?? run.created_time)}</td>
            <td>{durationOf(run.started_time, run.finished_time, now)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
