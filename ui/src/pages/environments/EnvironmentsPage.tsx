// A project's environments: each with its latest build's state (live) and
// time; a form to create one.
import { useEnvironments } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { Link } from "../../router";
import { NewEnvironment } from "./NewEnvironment";
import "./environments.css";

export function EnvironmentsPage({ project }: { project: string }) {
  const envs = useEnvironments(project);
  const list = envs.data?.environments ?? [];
  return (
    <main className="page">
      <p className="muted">
        <Link to={`/projects/${project}`}>Project</Link> / Environments
      </p>
      <h1>Environments</h1>
      <ErrorPanel error={envs.error} title="The environments could not be read" />
      <section className="card">
        {envs.isPending && <p className="muted">Loading…</p>}
        {envs.data && list.length === 0 && <p className="muted">No environment yet: steps run in the default interpreter.</p>}
        {list.length > 0 && (
          <table className="table" data-testid="environments-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Language</th>
                <th>Base image</th>
                <th>Latest build</th>
                <th>When</th>
              </tr>
            </thead>
            <tbody>
              {list.map((env) => {
                const build = env.latest_build;
                return (
                  <tr key={env.uuid} data-environment={env.uuid} data-status={build?.status ?? "NONE"}>
                    <td>
                      <Link to={`/projects/${project}/environments/${env.uuid}`}>{env.name}</Link>
                      {(env.problems ?? []).length > 0 && <span className="field-problem"> ✖ unreadable</span>}
                    </td>
                    <td>{env.language}</td>
                    <td>
                      <code>{env.base_image}</code>
                    </td>
                    <td>{build ? <StatusBadge status={build.status} /> : <span className="muted">never built</span>}</td>
                    <td>{formatTime(build?.finished_time ?? build?.started_time ?? build?.created_time)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section className="card">
        <NewEnvironment project={project} />
      </section>
    </main>
  );
}
