// A pipeline's session controls, shared by the Sessions page and the
// pipeline's view: launch (runtime chosen), open JupyterLab in a new tab,
// restart, stop. The state itself comes live from the event stream.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { client, unwrap } from "../../api/client";
import type { SessionView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { keys } from "../../live/cache";
import { jupyterLink } from "./jupyter";
import "./sessions.css";

export type SessionAction = "launch" | "stop" | "restart";
/** "" leaves the runtime to the deployment's default. */
export const RUNTIMES: [string, string][] = [
  ["", "default runtime"],
  ["process", "process"],
  ["docker", "docker"],
];
const LIVE = new Set(["LAUNCHING", "RUNNING", "STOPPING"]);

export function isLive(s: SessionView | null | undefined): boolean {
  return Boolean(s && LIVE.has(s.status));
}

/** Where a project the stack does not know lives (else it finds it from the uuids). */
export type Where = { project_dir: string; pipeline_path: string };

export function useSessionActions(project: string, pipeline: string, where?: Where) {
  const qc = useQueryClient();
  const path = { params: { path: { project_uuid: project, pipeline_uuid: pipeline } } };
  return useMutation({
    mutationFn: ({ action, runtime = "" }: { action: SessionAction; runtime?: string }) => {
      if (action === "stop") return unwrap(client.DELETE("/api/sessions/{project_uuid}/{pipeline_uuid}", path));
      if (action === "restart") return unwrap(client.PUT("/api/sessions/{project_uuid}/{pipeline_uuid}", path));
      const body = { project_uuid: project, pipeline_uuid: pipeline, ...where, ...(runtime ? { runtime } : {}) };
      return unwrap(client.POST("/api/sessions", { body }));
    },
    onSuccess: (view) => {
      qc.setQueryData(keys.session(project, pipeline), view);
      void qc.invalidateQueries({ queryKey: keys.sessions });
    },
  });
}

interface Props {
  project: string;
  pipeline: string;
  session: SessionView | null | undefined;
  where?: Where;
}

export function SessionControls({ project, pipeline, session: s, where }: Props) {
  const [runtime, setRuntime] = useState("");
  const act = useSessionActions(project, pipeline, where);
  const link = s?.status === "RUNNING" ? jupyterLink(s) : null;
  const busy = act.isPending;
  return (
    <span className="session-controls">
      {link && (
        <a href={link} target="_blank" rel="noreferrer" data-testid="open-jupyterlab">
          Open JupyterLab ↗
        </a>
      )}
      {!isLive(s) && (
        <>
          <select value={runtime} onChange={(e) => setRuntime(e.target.value)} aria-label="Session runtime">
            {RUNTIMES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => act.mutate({ action: "launch", runtime })} disabled={busy} data-testid="launch-session">
            ▶ Launch session
          </button>
        </>
      )}
      {s?.status === "RUNNING" && (
        <button type="button" onClick={() => act.mutate({ action: "restart" })} disabled={busy}>
          ↻ Restart
        </button>
      )}
      {(s?.status === "RUNNING" || s?.status === "LAUNCHING") && (
        <button type="button" className="danger" onClick={() => act.mutate({ action: "stop" })} disabled={busy}>
          ■ Stop
        </button>
      )}
      <ErrorPanel error={act.error} title="The session refused" />
    </span>
  );
}
