// The pipeline's interactive session: its state (live), launch with a
// runtime, open JupyterLab in a new tab, restart, stop.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { keys } from "../../live/cache";
import { jupyterLink } from "../sessions/jupyter";

interface Props {
  project: string;
  pipeline: string;
  pipelinePath: string;
}

export function SessionBox({ project, pipeline, pipelinePath }: Props) {
  const qc = useQueryClient();
  const [runtime, setRuntime] = useState("process");
  const path = { params: { path: { project_uuid: project, pipeline_uuid: pipeline } } };
  const session = useQuery({
    queryKey: keys.session(project, pipeline),
    queryFn: () =>
      unwrap(client.GET("/api/sessions/{project_uuid}/{pipeline_uuid}", path)).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return null; // never had one
        throw e;
      }),
  });
  const info = useQuery({
    queryKey: ["project", project],
    queryFn: () => unwrap(client.GET("/api/projects/{project_uuid}", { params: { path: { project_uuid: project } } })),
  });
  const act = useMutation({
    mutationFn: (action: "launch" | "stop" | "restart") => {
      if (action === "stop") return unwrap(client.DELETE("/api/sessions/{project_uuid}/{pipeline_uuid}", path));
      if (action === "restart") return unwrap(client.PUT("/api/sessions/{project_uuid}/{pipeline_uuid}", path));
      return unwrap(
        client.POST("/api/sessions", {
          body: {
            project_uuid: project,
            pipeline_uuid: pipeline,
            project_dir: info.data?.path ?? "",
            pipeline_path: pipelinePath,
            runtime,
          },
        }),
      );
    },
    onSuccess: (view) => qc.setQueryData(keys.session(project, pipeline), view),
  });
  const s = session.data;
  const live = s && ["LAUNCHING", "RUNNING", "STOPPING"].includes(s.status);
  const link = s?.status === "RUNNING" ? jupyterLink(s) : null;
  return (
    <div className="session-box" data-testid="session-box">
      <strong>Session</strong> {s ? <StatusBadge status={s.status} title={s.reason ?? undefined} /> : <span className="muted">none</span>}
      {link && (
        <a href={link} target="_blank" rel="noreferrer">
          Open JupyterLab ↗
        </a>
      )}
      {!live && (
        <>
          <select value={runtime} onChange={(e) => setRuntime(e.target.value)} aria-label="Session runtime">
            <option value="process">process</option>
            <option value="docker">docker</option>
          </select>
          <button type="button" onClick={() => act.mutate("launch")} disabled={act.isPending || !info.data}>
            ▶ Launch session
          </button>
        </>
      )}
      {s?.status === "RUNNING" && (
        <button type="button" onClick={() => act.mutate("restart")} disabled={act.isPending}>
          ↻ Restart
        </button>
      )}
      {live && s?.status !== "STOPPING" && (
        <button type="button" className="danger" onClick={() => act.mutate("stop")} disabled={act.isPending}>
          ■ Stop session
        </button>
      )}
      {s?.reason && <span className="muted">{s.reason}</span>}
      <ErrorPanel error={act.error ?? session.error} title="Session" />
    </div>
  );
}
