// Sessions: each pipeline's Jupyter server, live; open, restart, stop.
import { useMutation } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import { useSessions } from "../../api/queries";
import type { SessionView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { Link } from "../../router";
import { jupyterLink } from "./jupyter";

export function SessionsPage() {
  const sessions = useSessions();
  const act = useMutation({
    mutationFn: ({ s, action }: { s: SessionView; action: "stop" | "restart" }) => {
      const params = { params: { path: { project_uuid: s.project_uuid, pipeline_uuid: s.pipeline_uuid } } };
      return action === "stop"
        ? unwrap(client.DELETE("/api/sessions/{project_uuid}/{pipeline_uuid}", params))
        : unwrap(client.PUT("/api/sessions/{project_uuid}/{pipeline_uuid}", params));
    },
  });
  return (
    <main className="page">
      <h1>Sessions</h1>
      <p className="muted">
        Launch one with <code>orchest sessions launch PIPELINE_FILE</code> or <code>POST /api/sessions</code>.
      </p>
      <ErrorPanel error={sessions.error} title="Sessions could not be read" />
      <ErrorPanel error={act.error} title="The session refused" />
      {sessions.data && sessions.data.sessions.length === 0 && <p className="muted">No sessions yet.</p>}
      {sessions.data && sessions.data.sessions.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Pipeline</th>
              <th>Status</th>
              <th>Runtime</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sessions.data.sessions.map((s) => {
              const link = jupyterLink(s);
              return (
                <tr key={s.uuid}>
                  <td>
                    <Link to={`/projects/${s.project_uuid}/pipelines/${s.pipeline_uuid}`}>{s.pipeline_path}</Link>
                  </td>
                  <td>
                    <StatusBadge status={s.status} title={s.reason ?? undefined} />
                    {s.reason && <span className="muted"> {s.reason}</span>}
                  </td>
                  <td>{s.runtime}</td>
                  <td>{formatTime(s.updated_time)}</td>
                  <td>
                    {s.status === "RUNNING" && link && (
                      <a href={link} target="_blank" rel="noreferrer">
                        Open JupyterLab ↗
                      </a>
                    )}{" "}
                    {s.status === "RUNNING" && <button onClick={() => act.mutate({ s, action: "restart" })}>↻ Restart</button>}{" "}
                    {(s.status === "RUNNING" || s.status === "LAUNCHING") && (
                      <button className="danger" onClick={() => act.mutate({ s, action: "stop" })}>
                        ■ Stop
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </main>
  );
}
