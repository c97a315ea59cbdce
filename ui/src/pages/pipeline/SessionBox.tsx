// The pipeline's interactive session: its state (live) and its controls
// (pages/sessions/SessionControls.tsx: launch with a runtime, open
// JupyterLab in a new tab, restart, stop).
import { useQuery } from "@tanstack/react-query";
import { memo } from "react";
import { ApiError, client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { keys } from "../../live/cache";
import { SessionControls } from "../sessions/SessionControls";

interface Props {
  project: string;
  pipeline: string;
  /** The pipeline file's path in the project (the stack finds it from the uuids). */
  pipelinePath?: string;
}

// Memoised: the pipeline page renders again with each frame of a run's events.
export const SessionBox = memo(function SessionBox({ project, pipeline }: Props) {
  const path = { params: { path: { project_uuid: project, pipeline_uuid: pipeline } } };
  const session = useQuery({
    queryKey: keys.session(project, pipeline),
    queryFn: () =>
      unwrap(client.GET("/api/sessions/{project_uuid}/{pipeline_uuid}", path)).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return null; // never had one
        throw e;
      }),
  });
  const s = session.data;
  return (
    <div className="session-box" data-testid="session-box">
      <strong>Session</strong> {s ? <StatusBadge status={s.status} title={s.reason ?? undefined} /> : <span className="muted">none</span>}
      <SessionControls project={project} pipeline={pipeline} session={s} />
      {s?.reason && <span className="muted">{s.reason}</span>}
      <ErrorPanel error={session.error} title="Session" />
    </div>
  );
});
