// Runs as rows: status, progress (live), pipeline, times.
import type { RunView } from "../../api/types";
import { ProgressBar } from "../../components/ProgressBar";
import { statusColumn, Table, useDurationColumn } from "../../components/Table";
import { formatTime } from "../../components/time";
import { Link } from "../../router";

/** A run's progress bar (live), as the runs' tables show it. */
export const progressColumn = {
  head: "Progress",
  cell: (run: RunView) => <ProgressBar run={run} />,
  td: () => ({ className: "progress-cell" }),
};

export function RunTable({ runs, compact = false }: { runs: RunView[]; compact?: boolean }) {
  const duration = useDurationColumn(runs, "Duration");
  return (
    <Table
      rows={runs}
      empty="No runs yet."
      testId="run-table"
      rowKey={(run) => run.uuid}
      row={(run) => ({ "data-run": run.uuid })}
      columns={[
        { head: "Run", cell: (run) => <RunLinks run={run} /> },
        statusColumn(),
        progressColumn,
        !compact && { head: "Type", cell: (run) => run.run_type },
        { head: "Started", cell: (run) => formatTime(run.started_time ?? run.created_time) },
        duration,
      ]}
    />
  );
}

function RunLinks({ run }: { run: RunView }) {
  return (
    <>
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
    </>
  );
}
