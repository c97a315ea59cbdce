// Sessions: every pipeline of every project with its Jupyter session, live:
// launch (runtime chosen), open JupyterLab in a new tab, restart, stop.
// Sessions of pipelines outside the known projects (launched from the CLI
// with a project folder) are listed after.
import { usePipelines, useProjects, useSessions } from "../../api/queries";
import type { ProjectView, SessionView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { Link } from "../../router";
import { otherSessions, sessionOf } from "./pick";
import { SessionControls } from "./SessionControls";

function SessionCells({ s }: { s: SessionView | null }) {
  return (
    <>
      <td>
        {s ? <StatusBadge status={s.status} title={s.reason ?? undefined} /> : <span className="muted">none</span>}
        {s?.reason && <div className="muted">{s.reason}</div>}
      </td>
      <td>{s?.runtime ?? ""}</td>
      <td>{formatTime(s?.updated_time)}</td>
    </>
  );
}

function ProjectRows({ project, sessions }: { project: ProjectView; sessions: SessionView[] }) {
  const pipelines = usePipelines(project.uuid);
  if (pipelines.error) {
    return (
      <tr>
        <td colSpan={5}>
          <ErrorPanel error={pipelines.error} title={`The pipelines of ${project.name} could not be read`} />
        </td>
      </tr>
    );
  }
  return (
    <>
      {(pipelines.data?.pipelines ?? []).map((p) => {
        if (!p.uuid) return null;
        const s = sessionOf(sessions, project.uuid, p.uuid);
        return (
          <tr key={p.path} data-pipeline={p.uuid} data-testid="session-row">
            <td>
              <Link to={`/projects/${project.uuid}/pipelines/${p.uuid}`}>{p.name ?? p.path}</Link>
              <div className="muted">
                {project.name} · {p.path}
              </div>
            </td>
            <SessionCells s={s} />
            <td>
              <SessionControls project={project.uuid} pipeline={p.uuid} session={s} />
            </td>
          </tr>
        );
      })}
    </>
  );
}

const HEAD = (
  <thead>
    <tr>
      <th>Pipeline</th>
      <th>Session</th>
      <th>Runtime</th>
      <th>Since</th>
      <th />
    </tr>
  </thead>
);

export function SessionsPage() {
  const sessions = useSessions();
  const projects = useProjects();
  const all = sessions.data?.sessions ?? [];
  const known = new Set<string>();
  // A session of a known project's pipeline shows on its pipeline's row.
  for (const s of all) if ((projects.data?.projects ?? []).some((p) => p.uuid === s.project_uuid)) known.add(`${s.project_uuid}/${s.pipeline_uuid}`);
  const others = otherSessions(all, known);
  return (
    <main className="page">
      <h1>Sessions</h1>
      <p className="muted">
        A session is a pipeline's JupyterLab and its kernels, with the pipeline's environments.
      </p>
      <ErrorPanel error={sessions.error} title="Sessions could not be read" />
      <ErrorPanel error={projects.error} title="Projects could not be read" />
      {projects.data && projects.data.projects.length === 0 && <p className="muted">No project yet: make one on the Home page.</p>}
      {projects.data && projects.data.projects.length > 0 && (
        <table className="table sessions-table" data-testid="sessions-table">
          {HEAD}
          <tbody>
            {projects.data.projects.map((p) => (
              <ProjectRows key={p.uuid} project={p} sessions={all} />
            ))}
          </tbody>
        </table>
      )}
      {others.length > 0 && (
        <>
          <h2>Other sessions</h2>
          <table className="table">
            {HEAD}
            <tbody>
              {others.map((s) => (
                <tr key={s.uuid}>
                  <td>
                    <code>{s.pipeline_path}</code>
                    <div className="muted">{s.project_dir}</div>
                  </td>
                  <SessionCells s={s} />
                  <td>
                    <SessionControls
                      project={s.project_uuid}
                      pipeline={s.pipeline_uuid}
                      session={s}
                      where={{ project_dir: s.project_dir, pipeline_path: s.pipeline_path }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  );
}
