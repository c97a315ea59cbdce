// A run: status, steps with their attempts, its timeline, abort; all live.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import { useAttempts, useRun } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatTime, useNow } from "../../components/time";
import { ENDED } from "../../live/order";
import { Link } from "../../router";
import { Timeline } from "./Timeline";

export function RunPage({ run: uuid }: { run: string }) {
  const run = useRun(uuid);
  const attempts = useAttempts(uuid);
  const now = useNow(run.data?.status === "STARTED");
  const abort = useMutation({
    mutationFn: () => unwrap(client.DELETE("/api/runs/{run_uuid}", { params: { path: { run_uuid: uuid } } })),
  });
  if (run.error) return <main className="page"><ErrorPanel error={run.error} title="The run could not be read" /></main>;
  if (!run.data) return <main className="page"><p>Reading the run…</p></main>;
  const r = run.data;
  const pipelineLink = r.project_uuid ? `/projects/${r.project_uuid}/pipelines/${r.pipeline_uuid}?run=${r.uuid}` : null;
  return (
    <main className="page">
      <h1>
        Run <code>{r.uuid.slice(0, 8)}</code> <StatusBadge status={r.status} />
      </h1>
      <p>
        {r.run_type} run, created {formatTime(r.created_time)}
        {r.started_time && `, ${r.finished_time ? "took" : "running for"} ${durationOf(r.started_time, r.finished_time, now)}`}
        {pipelineLink && (
          <>
            {" "}
            · <Link to={pipelineLink}>open in the pipeline</Link>
          </>
        )}
        {r.job_uuid && (
          <>
            {" "}
            · <Link to={`/jobs/${r.job_uuid}`}>its job</Link>
          </>
        )}
      </p>
      <ProgressBar run={r} />
      {!ENDED.has(r.status) && (
        <button className="danger" onClick={() => abort.mutate()} disabled={abort.isPending}>
          <span aria-hidden="true">■</span> Abort
        </button>
      )}
      <ErrorPanel error={abort.error} title="The abort failed" />
      <h2>Timeline</h2>
      <ErrorPanel error={attempts.error} title="The attempts could not be read" />
      <Timeline steps={r.pipeline_steps} attempts={attempts.data?.attempts ?? []} />
      <h2>Steps</h2>
      <table className="table">
        <thead>
          <tr>
            <th>Step</th>
            <th>Status</th>
            <th>Attempt</th>
            <th>Exit code</th>
            <th>Error</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {r.pipeline_steps.map((s) => (
            <tr key={s.step_uuid}>
              <td>
                {pipelineLink ? <Link to={`${pipelineLink}&step=${s.step_uuid}`}>{s.title || s.file_path}</Link> : s.title}
              </td>
              <td>
                <StatusBadge status={s.status} />
              </td>
              <td>{s.attempt}</td>
              <td>{s.exit_code ?? ""}</td>
              <td>{s.error ?? ""}</td>
              <td>{durationOf(s.started_time, s.finished_time, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
