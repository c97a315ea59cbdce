// A job: its state and schedule, its runs with their parameters (live);
// pause, resume, trigger, cancel, abort one run.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import { useJob, useJobRuns } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { ENDED } from "../../live/order";
import { RunTable } from "../runs/RunTable";
import { RunCounts } from "./JobsPage";

export function JobPage({ job: uuid }: { job: string }) {
  const job = useJob(uuid);
  const runs = useJobRuns(uuid);
  const path = { params: { path: { job_uuid: uuid } } };
  const act = useMutation({
    mutationFn: (action: "pause" | "resume" | "trigger" | "cancel") => {
      if (action === "trigger") return unwrap(client.POST("/api/jobs/{job_uuid}/trigger", path));
      if (action === "cancel") return unwrap(client.DELETE("/api/jobs/{job_uuid}", path));
      return unwrap(client.PUT("/api/jobs/{job_uuid}", { ...path, body: { paused: action === "pause" } }));
    },
  });
  if (job.error) return <main className="page"><ErrorPanel error={job.error} title="The job could not be read" /></main>;
  if (!job.data) return <main className="page"><p>Reading the job…</p></main>;
  const j = job.data;
  const live = !ENDED.has(j.status);
  return (
    <main className="page">
      <h1>
        {j.name} <StatusBadge status={j.status} />
      </h1>
      <p>
        {j.cron_schedule ? <>cron <code>{j.cron_schedule}</code></> : j.scheduled_start ? `once at ${formatTime(j.scheduled_start)}` : "once, now"}
        {j.next_scheduled_time && `, next at ${formatTime(j.next_scheduled_time)}`}; {j.parameters.length} parameter set(s);{" "}
        <RunCounts job={j} />
      </p>
      {live && (
        <div className="run-controls">
          {j.status === "PAUSED" ? (
            <button onClick={() => act.mutate("resume")}>▶ Resume</button>
          ) : (
            j.status === "STARTED" && <button onClick={() => act.mutate("pause")}>❚❚ Pause</button>
          )}
          <button onClick={() => act.mutate("trigger")}>↻ Trigger now</button>
          <button className="danger" onClick={() => act.mutate("cancel")}>■ Cancel job</button>
        </div>
      )}
      <ErrorPanel error={act.error} title="The job refused" />
      <h2>Runs</h2>
      <ErrorPanel error={runs.error} title="Runs could not be read" />
      {runs.data && <RunTable runs={runs.data.runs} />}
    </main>
  );
}
