// A project: its pipelines and its recent runs.
import { useQuery } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Link } from "../../router";
import { NewPipeline } from "../home/NewPipeline";
import { ProjectPipelines } from "../home/ProjectPipelines";

export function ProjectPage({ project }: { project: string }) {
  const info = useQuery({
    queryKey: ["project", project],
    queryFn: () => unwrap(client.GET("/api/projects/{project_uuid}", { params: { path: { project_uuid: project } } })),
  });
  return (
    <main className="page">
      <ErrorPanel error={info.error} title="The project could not be read" />
      <h1>{info.data?.name ?? "Project"}</h1>
      {info.data && (
        <p className="muted">
          <code>{info.data.path}</code> {info.data.managed ? "(managed)" : "(registered folder)"}
        </p>
      )}
      <section className="card">
        <h2>Pipelines</h2>
        <ProjectPipelines project={project} />
        <NewPipeline project={project} />
      </section>
      <section className="card">
        <h2>Environments</h2>
        <p>
          What its steps and kernels run in (a base and a setup script, built once):{" "}
          <Link to={`/projects/${project}/environments`} data-testid="project-environments">
            the project's environments
          </Link>
        </p>
      </section>
      <p>
        <Link to="/">Home</Link>
      </p>
    </main>
  );
}
