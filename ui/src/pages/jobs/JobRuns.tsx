// A job's runs: execution, parameter set and its values, status and progress
// (live from the event stream), each unfinished one abortable.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import type { RunView } from "../../api/types";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorPanel } from "../../components/ErrorPanel";
import { statusColumn, Table, useDurationColumn } from "../../components/Table";
import { formatTime } from "../../components/time";
import { ENDED } from "../../live/order";
import { Link } from "../../router";
import { progressColumn } from "../runs/RunTable";
import { describeSet } from "./grid";

export function JobRuns({ job, runs, titles }: { job: string; runs: RunView[]; titles: Record<string, string> }) {
  const duration = useDurationColumn(runs, "Duration");
  const abort = useMutation({
    mutationFn: (run: string) =>
      unwrap(client.DELETE("/api/jobs/{job_uuid}/runs/{run_uuid}", { params: { path: { job_uuid: job, run_uuid: run } } })),
  });
  return (
    <>
      <ErrorPanel error={abort.error} title="The run was not aborted" />
      <Table
        rows={runs}
        empty="No runs yet."
        testId="job-runs"
        rowKey={(run) => run.uuid}
        row={(run) => ({ "data-run": run.uuid, "data-status": run.status })}
        columns={[
          { head: "Execution", cell: (run) => <Link to={`/runs/${run.uuid}`}>#{run.job_run_index ?? "?"}</Link> },
          { head: "Set", cell: (run) => (run.job_run_pipeline_run_index ?? 0) + 1 },
          {
            head: "Parameters",
            td: () => ({ className: "run-params", "data-testid": "run-params" }),
            cell: (run) =>
              describeSet(run.parameters as Record<string, Record<string, unknown>> | null, titles) || (
                <span className="muted">the pipeline's own</span>
              ),
          },
          statusColumn(),
          progressColumn,
          { head: "Started", cell: (run) => formatTime(run.started_time) },
          duration,
          {
            head: null,
            cell: (run) =>
              !ENDED.has(run.status) && (
                <ConfirmButton
                  question="Abort this run?"
                  confirm="■ Abort run"
                  testId="abort-run"
                  disabled={abort.isPending && abort.variables === run.uuid}
                  onConfirm={() => abort.mutate(run.uuid)}
                >
                  ■ Abort
                </ConfirmButton>
              ),
          },
        ]}
      />
    </>
  );
}
