// Which session a pipeline shows (pure): its live one, else its newest.
import type { SessionView } from "../../api/types";

const LIVE = new Set(["LAUNCHING", "RUNNING", "STOPPING"]);

export function sessionOf(sessions: readonly SessionView[], project: string, pipeline: string): SessionView | null {
  let best: SessionView | null = null;
  for (const s of sessions) {
    if (s.project_uuid !== project || s.pipeline_uuid !== pipeline) continue;
    const better =
      best === null ||
      (LIVE.has(s.status) && !LIVE.has(best.status)) ||
      (LIVE.has(s.status) === LIVE.has(best.status) && s.created_time > best.created_time);
    if (better) best = s;
  }
  return best;
}

/** The sessions of pipelines not among `known` (`project/pipeline` keys): launched outside a known project. */
export function otherSessions(sessions: readonly SessionView[], known: ReadonlySet<string>): SessionView[] {
  return sessions.filter((s) => !known.has(`${s.project_uuid}/${s.pipeline_uuid}`));
}
