// Jobs: status, schedule, next firing time, runs per status (live).
import { useJobs } from "../../api/queries";
import type { JobView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { statusColumn, Table } from "../../components/Table";
import { formatTime } from "../../components/time";
import { Link } from "../../router";
import "./jobs.css";

export function RunCounts({ job }: { job: JobView }) {
  const counts = Object.entries(job.run_counts ?? {}).filter(([, n]) => n > 0);
  if (counts.length === 0) return <span className="muted">no runs</span>;
  return (
    <span className="counts">
      {counts.map(([status, n]) => (
        <span key={status}>
          <StatusBadge status={status} /> {n}{" "}
        </span>
      ))}
    </span>
  );
}

/** "cron 0 3 * * * (UTC)", "once at ...", "once, now". */
export function scheduleText(job: JobView): string {
  if (job.cron_schedule) return `cron ${job.cron_schedule} (UTC)`;
  if (job.scheduled_start) return `once at ${formatTime(job.scheduled_start)}`;
  return "once, when started";
}

export function JobsPage() {
  const jobs = useJobs();
  return (
    <main className="page">
      <h1>Jobs</h1>
      <p>
        <Link to="/jobs/new" className="button-link" data-testid="new-job">
          + New job
        </Link>{" "}
        <span className="muted">
          (or <code>orchest jobs create PIPELINE_FILE --name NAME [--cron EXPR] [--param-grid FILE]</code>)
        </span>
      </p>
      <ErrorPanel error={jobs.error} title="Jobs could not be read" />
      {jobs.data && (
        <Table
          rows={jobs.data.jobs}
          empty="No jobs yet."
          testId="jobs-table"
          rowKey={(job) => job.uuid}
          row={(job) => ({ "data-job": job.uuid })}
          columns={[
            { head: "Job", cell: (job) => <Link to={`/jobs/${job.uuid}`}>{job.name}</Link> },
            statusColumn(),
            { head: "Schedule", cell: scheduleText },
            { head: "Next firing", cell: (job) => formatTime(job.next_scheduled_time) },
            { head: "Runs", cell: (job) => <RunCounts job={job} /> },
          ]}
        />
      )}
    </main>
  );
}
