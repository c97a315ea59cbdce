// Events from the stream applied to the TanStack Query cache: the reducers
// update what is cached; an event about something a cached page lacks (a
// new run, job or session) makes that page be read again.
import type { QueryClient } from "@tanstack/react-query";
import type { BuildList, BusEvent, EnvironmentList, EnvironmentView, JobList, JobView, RunList, SessionList } from "../api/types";
import { applyAttemptEvent, type LiveAttempts } from "./attempts";
import { applyBuildListEvent, applyEnvironmentEvent, applyEnvironmentListEvent } from "./builds";
import { applyJobEvent, applyJobListEvent, applySessionListEvent } from "./jobs";
import { recentEvents } from "./recent";
import { applyRunEvent, applyRunListEvent, type LiveRun } from "./runs";

export const keys = {
  health: ["health"] as const,
  projects: ["projects"] as const,
  pipelines: (project: string) => ["pipelines", project] as const,
  pipeline: (project: string, pipeline: string) => ["pipeline", project, pipeline] as const,
  runs: (filters: Record<string, string | undefined> = {}) => ["runs", filters] as const,
  run: (run: string) => ["run", run] as const,
  attempts: (run: string) => ["attempts", run] as const,
  jobs: ["jobs"] as const,
  job: (job: string) => ["job", job] as const,
  jobRuns: (job: string) => ["jobRuns", job] as const,
  sessions: ["sessions"] as const,
  session: (project: string, pipeline: string) => ["session", project, pipeline] as const,
  environments: (project: string) => ["environments", project] as const,
  environment: (project: string, env: string) => ["environment", project, env] as const,
  builds: (project: string, env: string) => ["builds", project, env] as const,
};

function applyToPages<L>(
  qc: QueryClient,
  prefix: string,
  apply: (list: L) => { list: L; known: boolean },
  refetchUnknown: boolean,
): void {
  for (const query of qc.getQueryCache().findAll({ queryKey: [prefix] })) {
    const data = query.state.data as L | undefined;
    if (data === undefined) continue;
    const { list, known } = apply(data);
    if (list !== data) qc.setQueryData(query.queryKey, list);
    if (!known && refetchUnknown) void qc.invalidateQueries({ queryKey: query.queryKey, exact: true });
  }
}

/** One cached value moved by `apply`; read again when it lacks what the event is about. */
function applyOne<T>(qc: QueryClient, key: readonly unknown[], apply: (value: T) => { list: T; known: boolean }): void {
  const data = qc.getQueryData<T>(key);
  if (data === undefined) {
    // Being read for the first time: what it reads may predate this event,
    // so read it again (the read under way is dropped).
    if (qc.isFetching({ queryKey: key, exact: true }) > 0) void qc.invalidateQueries({ queryKey: key, exact: true });
    return;
  }
  const { list, known } = apply(data);
  if (list !== data) qc.setQueryData(key, list);
  // Read again even when no page shows it now, so that going back to it
  // shows the new build rather than the one cached.
  if (!known) void qc.invalidateQueries({ queryKey: key, exact: true, refetchType: "all" });
}

export function applyEventToCache(qc: QueryClient, event: BusEvent): void {
  switch (event.kind) {
    case "run_status_changed":
    case "step_status_changed": {
      recentEvents.add(event);
      qc.setQueryData<LiveRun>(keys.run(event.run_uuid), (run) => run && applyRunEvent(run, event));
      if (event.kind === "step_status_changed") {
        qc.setQueryData<LiveAttempts>(keys.attempts(event.run_uuid), (l) => l && applyAttemptEvent(l, event));
      }
      const isNew = event.kind === "run_status_changed";
      applyToPages<RunList>(qc, "runs", (l) => applyRunListEvent(l, event), isNew);
      applyToPages<RunList>(qc, "jobRuns", (l) => applyRunListEvent(l, event), isNew);
      if (event.kind === "run_status_changed" && event.job_uuid) {
        // A job's counts per status come from its runs: read it again.
        void qc.invalidateQueries({ queryKey: keys.job(event.job_uuid) });
        void qc.invalidateQueries({ queryKey: keys.jobs });
      }
      return;
    }
    case "job_status_changed":
      qc.setQueryData<JobView>(keys.job(event.job_uuid), (job) => job && applyJobEvent(job, event));
      applyToPages<JobList>(qc, "jobs", (l) => applyJobListEvent(l, event), true);
      return;
    case "session_status_changed":
      // A pipeline's session view gains its Jupyter URL once RUNNING: read it again.
      void qc.invalidateQueries({ queryKey: keys.session(event.project_uuid, event.pipeline_uuid) });
      applyToPages<SessionList>(qc, "sessions", (l) => applySessionListEvent(l, event), true);
      // Its Jupyter URL and token come with the read, not the event.
      if (event.status === "RUNNING") void qc.invalidateQueries({ queryKey: keys.sessions });
      return;
    case "project_changed":
      void qc.invalidateQueries({ queryKey: keys.pipelines(event.project_uuid) });
      void qc.invalidateQueries({ queryKey: ["pipeline", event.project_uuid] });
      return;
    case "environment_build_changed": {
      const { project_uuid: p, environment_uuid: e } = event;
      applyOne<BuildList>(qc, keys.builds(p, e), (l) => applyBuildListEvent(l, event));
      applyOne<EnvironmentList>(qc, keys.environments(p), (l) => applyEnvironmentListEvent(l, event));
      applyOne<EnvironmentView>(qc, keys.environment(p, e), (env) => {
        const { env: next, known } = applyEnvironmentEvent(env, event);
        return { list: next, known };
      });
      return;
    }
  }
}
