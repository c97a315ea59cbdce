// All runs, filtered by pipeline, status and job: the filters are in the URL
// (a deep link) and applied by the API; the list stays live.
import { useJobs, useRuns } from "../../api/queries";
import type { RunStatus } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { PipelineSelect } from "../../components/PipelineSelect";
import { navigate } from "../../router";
import { RunTable } from "./RunTable";

const STATUSES: RunStatus[] = ["PENDING", "STARTED", "SUCCESS", "FAILURE", "ABORTED"];

export function RunsPage({ search }: { search: URLSearchParams }) {
  const pipeline = search.get("pipeline_uuid") ?? undefined;
  const status = (search.get("status")?.toUpperCase() as RunStatus | undefined) ?? undefined;
  const job = search.get("job_uuid") ?? undefined;
  const runs = useRuns({ pipeline_uuid: pipeline, status, job_uuid: job, limit: 100 });
  const jobs = useJobs();
  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    const text = next.toString();
    navigate(text ? `/runs?${text}` : "/runs", true);
  };
  const knownJob = !job || (jobs.data?.jobs ?? []).some((j) => j.uuid === job);
  return (
    <main className="page">
      <h1>Runs</h1>
      <div className="inline-form" data-testid="run-filters">
        <label>
          Status{" "}
          <select value={status ?? ""} data-testid="filter-status" onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          Pipeline{" "}
          <PipelineSelect value={pipeline ?? ""} none="any" onChange={(_, p) => setFilter("pipeline_uuid", p)} />
        </label>{" "}
        <label>
          Job{" "}
          <select value={job ?? ""} data-testid="filter-job" onChange={(e) => setFilter("job_uuid", e.target.value)}>
            <option value="">any</option>
            {!knownJob && <option value={job}>{job}</option>}
            {(jobs.data?.jobs ?? []).map((j) => (
              <option key={j.uuid} value={j.uuid}>
                {j.name}
              </option>
            ))}
          </select>
        </label>
        {runs.data && (
          <span className="muted" data-testid="run-total">
            {" "}
            {runs.data.total} run(s)
          </span>
        )}
      </div>
      <ErrorPanel error={runs.error} title="Runs could not be read" />
      {runs.data && <RunTable runs={runs.data.runs} />}
    </main>
  );
}
