// Home: projects and their pipelines, recent runs (live), the stack's health.
import { useHealth, useProjects, useRuns } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Link } from "../../router";
import { RunTable } from "../runs/RunTable";
import { NewPipeline } from "./NewPipeline";
import { NewProject } from "./NewProject";
import { ProjectPipelines } from "./ProjectPipelines";

function Health() {
  const health = useHealth();
  if (health.error) return <ErrorPanel error={health.error} title="Health unknown" />;
  if (!health.data) return <p>Asking the services…</p>;
  return (
    <ul className="health" data-testid="health">
      {health.data.services.map((s) => (
        <li key={s.name} className={s.up ? "up" : "down"}>
          <span aria-hidden="true">{s.up ? "✔" : "✖"}</span> {s.name}:{" "}
          {s.up ? `up, ${s.instances?.length ?? 0} instance(s)` : "down"}
        </li>
      ))}
      {(health.data.dependencies ?? []).map((d) => (
        <li key={d.name} className={d.up ? "up" : "down"}>
          <span aria-hidden="true">{d.up ? "✔" : "✖"}</span> {d.name}: {d.up ? "ok" : `down${d.detail ? ": " + d.detail : ""}`}
        </li>
      ))}
    </ul>
  );
}

export function HomePage() {
  const projects = useProjects();
  const runs = useRuns({ limit: 10 });
  return (
    <main className="page home">
      <section className="card projects">
        <h2>Projects</h2>
        <ErrorPanel error={projects.error} title="Projects could not be read" />
        {projects.data?.projects.length === 0 && <p>No project yet: make one below.</p>}
        {projects.data?.projects.map((p) => (
          <div key={p.uuid} className="project">
            <h3>
              <Link to={`/projects/${p.uuid}`}>{p.name}</Link>
            </h3>
            <ProjectPipelines project={p.uuid} />
            <NewPipeline project={p.uuid} />
          </div>
        ))}
        <NewProject />
      </section>
      <section className="card">
        <h2>
          Recent runs <Link to="/runs">all runs</Link>
        </h2>
        <ErrorPanel error={runs.error} title="Runs could not be read" />
        {runs.data && <RunTable runs={runs.data.runs} compact />}
      </section>
      <section className="card">
        <h2>Stack</h2>
        <Health />
      </section>
    </main>
  );
}
