// A job's runs: execution, parameter set and its values, status and progress
// (live from the event stream), each unfinished one abortable.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import type { RunView } from "../../api/types";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorPanel } from "../../components/ErrorPanel";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatTime, useNow } from "../../components/time";
import { ENDED } from "../../live/order";
import { Link } from "../../router";
import { describeSet } from "./grid";

export function JobRuns({ job, runs, titles }: { job: string; runs: RunView[]; titles: Record<string, string> }) {
  const now = useNow(runs.some((r) => r.status === "STARTED"));
  const abort = useMutation({
    mutationFn: (run: string) =>
      unwrap(client.DELETE("/api/jobs/{job_uuid}/runs/{run_uuid}", { params: { path: { job_uuid: job, run_uuid: run } } })),
  });
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  return (
    <>
      <ErrorPanel error={abort.error} title="The run was not aborted" />
      <table className="table" data-testid="job-runs">
        <thead>
          <tr>
            <th>Execution</th>
            <th>Set</th>
            <th>Parameters</th>
            <th>Status</th>
            <th>Progress</th>
            <th>Started</th>
            <th>Duration</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.uuid} data-run={run.uuid} data-status={run.status}>
              <td>
                <Link to={`/runs/${run.uuid}`}>#{run.job_run_index ?? "?"}</Link>
              </td>
              <td>{(run.job_run_pipeline_run_index ?? 0) + 1}</td>
              <td className="run-params" data-testid="run-params">
                {describeSet(run.parameters as Record<string, Record<string, unknown>> | null, titles) || (
                  <span className="muted">the pipeline's own</span>
                )}
              </td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td className="progress-cell">
                <ProgressBar run={run} />
              </td>
              <td>{formatTime(run.started_time)}</td>
              <td>{durationOf(run.started_time, run.finished_time, now)}</td>
              <td>
                {!ENDED.has(run.status) && (
                  <ConfirmButton
                    question="Abort this run?"
                    confirm="■ Abort run"
                    testId="abort-run"
                    disabled={abort.isPending && abort.variables === run.uuid}
                    onConfirm={() => abort.mutate(run.uuid)}
                  >
                    ■ Abort
                  </ConfirmButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
