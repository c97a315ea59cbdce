import { usePipelines } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Link } from "../../router";

export function ProjectPipelines({ project }: { project: string }) {
  const pipelines = usePipelines(project);
  if (pipelines.error) return <ErrorPanel error={pipelines.error} title="Pipelines could not be read" />;
  if (!pipelines.data) return <p>Looking for pipelines…</p>;
  if (pipelines.data.pipelines.length === 0) return <p className="muted">No pipeline in this project.</p>;
  return (
    <ul className="pipelines">
      {pipelines.data.pipelines.map((p) => (
        <li key={p.path}>
          {p.uuid ? (
            <Link to={`/projects/${project}/pipelines/${p.uuid}`}>{p.name ?? p.path}</Link>
          ) : (
            <span>{p.path}</span>
          )}{" "}
          <span className="muted">
            {p.path}, {p.step_count} step{p.step_count === 1 ? "" : "s"}
          </span>
          {!p.valid && (
            <span className="status status-failure" title={(p.problems ?? []).map((e) => e.msg).join("\n")}>
              <span aria-hidden="true">✖</span> invalid: {(p.problems ?? []).map((e) => e.msg).join("; ")}
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}
