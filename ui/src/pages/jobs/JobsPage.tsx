// Jobs: status, schedule, next firing time, runs per status (live).
import { useJobs } from "../../api/queries";
import type { JobView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { Link } from "../../router";

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

export function JobsPage() {
  const jobs = useJobs();
  return (
    <main className="page">
      <h1>Jobs</h1>
      <p className="muted">
        Make one with <code>orchest jobs create PIPELINE_FILE --name NAME [--cron EXPR] [--param-grid FILE]</code> or{" "}
        <code>POST /api/jobs</code>.
      </p>
      <ErrorPanel error={jobs.error} title="Jobs could not be read" />
      {jobs.data && jobs.data.jobs.length === 0 && <p className="muted">No jobs yet.</p>}
      {jobs.data && jobs.data.jobs.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Job</th>
              <th>Status</th>
              <th>Schedule</th>
              <th>Next run</th>
              <th>Runs</th>
            </tr>
          </thead>
          <tbody>
            {jobs.data.jobs.map((job) => (
              <tr key={job.uuid}>
                <td>
                  <Link to={`/jobs/${job.uuid}`}>{job.name}</Link>
                </td>
                <td>
                  <StatusBadge status={job.status} />
                </td>
                <td>{job.cron_schedule ?? (job.scheduled_start ? `at ${formatTime(job.scheduled_start)}` : "now")}</td>
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
