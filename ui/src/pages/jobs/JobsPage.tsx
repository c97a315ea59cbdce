// Jobs: status, schedule, next firing time, runs per status (live).
import { useJobs } from "../../api/queries";
import type { JobView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
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
      {jobs.data && jobs.data.jobs.length === 0 && <p className="muted">No jobs yet.</p>}
      {jobs.data && jobs.data.jobs.length > 0 && (
        <table className="table" data-testid="jobs-table">
          <thead>
            <tr>
              <th>Job</th>
              <th>Status</th>
              <th>Schedule</th>
              <th>Next firing</th>
              <th>Runs</th>
            </tr>
          </thead>
          <tbody>
            {jobs.data.jobs.map((job) => (
              <tr key={job.uuid} data-job={job.uuid}>
                <td>
                  <Link to={`/jobs/${job.uuid}`}>{job.name}</Link>
                </td>
                <td>
                  <StatusBadge status={job.status} />
                </td>
                <td>{scheduleText(job)}</td>
                <td>{formatTime(job.next_scheduled_time)}</td>
                <td>
                  <RunCounts job={job} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
