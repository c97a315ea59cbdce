// A job: its state, schedule, next firing time and runs per status; its runs
// with their parameters (live); pause, resume, trigger now, cancel.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import { useJob, useJobRuns } from "../../api/queries";
import type { JobView } from "../../api/types";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { ENDED } from "../../live/order";
import { Link } from "../../router";
import { JobRuns } from "./JobRuns";
import "./jobs.css";
import { RunCounts, scheduleText } from "./JobsPage";

type Action = "pause" | "resume" | "trigger" | "cancel" | "confirm";

function titlesOf(job: JobView): Record<string, string> {
  const steps = (job.pipeline_definition?.steps ?? {}) as Record<string, { title?: string }>;
  return Object.fromEntries(Object.entries(steps).map(([uuid, s]) => [uuid, s.title ?? uuid]));
}

function Controls({ job, act, busy }: { job: JobView; act: (a: Action) => void; busy: boolean }) {
  if (ENDED.has(job.status) && job.status !== "SUCCESS") return null;
  return (
    <div className="run-controls" data-testid="job-controls">
      {job.status === "DRAFT" && (
        <button type="button" disabled={busy} onClick={() => act("confirm")}>
          ▶ Start (confirm the draft)
        </button>
      )}
      {job.status === "PAUSED" && (
        <button type="button" disabled={busy} data-testid="resume-job" onClick={() => act("resume")}>
          ▶ Resume
        </button>
      )}
      {(job.status === "PENDING" || job.status === "STARTED") && (
        <button type="button" disabled={busy} data-testid="pause-job" onClick={() => act("pause")}>
          ❚❚ Pause
        </button>
      )}
      {job.status !== "DRAFT" && job.status !== "PAUSED" && (
        <button type="button" disabled={busy} data-testid="trigger-job" onClick={() => act("trigger")}>
          ↻ Trigger now
        </button>
      )}
      {!ENDED.has(job.status) && (
        <ConfirmButton
          question="Cancel this job? No more executions; its unfinished runs are aborted."
          confirm="■ Cancel job"
          testId="cancel-job"
          disabled={busy}
          onConfirm={() => act("cancel")}
        >
          ■ Cancel job
        </ConfirmButton>
      )}
    </div>
  );
}

export function JobPage({ job: uuid }: { job: string }) {
  const job = useJob(uuid);
  const runs = useJobRuns(uuid);
  const path = { params: { path: { job_uuid: uuid } } };
  const act = useMutation({
    mutationFn: (action: Action) => {
      if (action === "trigger") return unwrap(client.POST("/api/jobs/{job_uuid}/trigger", path));
      if (action === "cancel") return unwrap(client.DELETE("/api/jobs/{job_uuid}", path));
      if (action === "confirm") return unwrap(client.PUT("/api/jobs/{job_uuid}", { ...path, body: { confirm_draft: true } }));
      return unwrap(client.PUT("/api/jobs/{job_uuid}", { ...path, body: { paused: action === "pause" } }));
    },
  });
  if (job.error)
    return (
      <main className="page">
        <ErrorPanel error={job.error} title="The job could not be read" />
      </main>
    );
  if (!job.data)
    return (
      <main className="page">
        <p>Reading the job…</p>
      </main>
    );
  const j = job.data;
  return (
    <main className="page job-page">
      <h1>
        {j.name} <StatusBadge status={j.status} />
      </h1>
      <dl className="facts" data-testid="job-facts">
        <dt>Pipeline</dt>
        <dd>
          {j.project_uuid ? (
            <Link to={`/projects/${j.project_uuid}/pipelines/${j.pipeline_uuid}`}>{String(j.pipeline_definition?.name ?? j.pipeline_uuid)}</Link>
          ) : (
            <code>{j.pipeline_uuid}</code>
          )}{" "}
          <span className="muted">(frozen at {formatTime(j.created_time)})</span>
        </dd>
        <dt>Schedule</dt>
        <dd data-testid="job-schedule">{scheduleText(j)}</dd>
        <dt>Next firing</dt>
        <dd data-testid="job-next">{j.next_scheduled_time ? formatTime(j.next_scheduled_time) : <span className="muted">none</span>}</dd>
        <dt>Executions</dt>
        <dd>
          {j.total_scheduled_executions}
          {j.last_scheduled_time && <span className="muted"> (last at {formatTime(j.last_scheduled_time)})</span>}
        </dd>
        <dt>Runs</dt>
        <dd data-testid="job-counts">
          <RunCounts job={j} /> <span className="muted">· {j.parameters.length} per execution</span>{" "}
          <Link to={`/runs?job_uuid=${j.uuid}`}>in the runs list</Link>
        </dd>
        <dt>Retention</dt>
        <dd>{(j.max_retained_pipeline_runs ?? -1) < 0 ? "every run kept" : `the newest ${j.max_retained_pipeline_runs} ended runs kept`}</dd>
        {Object.keys(j.env_variables ?? {}).length > 0 && (
          <>
            <dt>Env variables</dt>
            <dd>
              {Object.entries(j.env_variables ?? {}).map(([k, v]) => (
                <code key={k}>
                  {k}={v}{" "}
                </code>
              ))}
            </dd>
          </>
        )}
      </dl>
      <Controls job={j} act={(a) => act.mutate(a)} busy={act.isPending} />
      <ErrorPanel error={act.error} title="The job refused" />
      <h2>Runs</h2>
      <ErrorPanel error={runs.error} title="Runs could not be read" />
      {runs.data && <JobRuns job={j.uuid} runs={runs.data.runs} titles={titlesOf(j)} />}
    </main>
  );
}
