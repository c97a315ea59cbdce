// All runs, filtered by pipeline and status (the filters are in the URL).
import { useRuns } from "../../api/queries";
import type { RunStatus } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { navigate } from "../../router";
import { RunTable } from "./RunTable";

const STATUSES: RunStatus[] = ["PENDING", "STARTED", "SUCCESS", "FAILURE", "ABORTED"];

export function RunsPage({ search }: { search: URLSearchParams }) {
  const pipeline = search.get("pipeline_uuid") ?? undefined;
  const status = (search.get("status") as RunStatus | null) ?? undefined;
  const runs = useRuns({ pipeline_uuid: pipeline, status, limit: 100 });
  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    const text = next.toString();
    navigate(text ? `/runs?${text}` : "/runs", true);
  };
  return (
    <main className="page">
      <h1>Runs</h1>
      <div className="inline-form">
        <label>
          Status{" "}
          <select value={status ?? ""} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          Pipeline{" "}
          <input
            value={pipeline ?? ""}
            placeholder="pipeline uuid"
            onChange={(e) => setFilter("pipeline_uuid", e.target.value)}
          />
        </label>
        {runs.data && <span className="muted"> {runs.data.total} run(s)</span>}
      </div>
      <ErrorPanel error={runs.error} title="Runs could not be read" />
      {runs.data && <RunTable runs={runs.data.runs} />}
    </main>
  );
}
