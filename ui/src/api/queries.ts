// The reads of the API as TanStack queries; live events keep them current
// (live/cache.ts), so none of them polls.
import { keepPreviousData, useQueries, useQuery } from "@tanstack/react-query";
import { keys } from "../live/cache";
import { applyAttemptEvent, type LiveAttempts } from "../live/attempts";
import { recentEvents } from "../live/recent";
import type { LiveRun } from "../live/runs";
import { client, toApiError, unwrap } from "./client";
import type { HealthReport, PipelineDefinition, RunStatus, RunView } from "./types";

// /api/health answers 503 with the same report when something is missing.
export const useHealth = () =>
  useQuery({
    queryKey: keys.health,
    queryFn: async (): Promise<HealthReport> => {
      const { data, error, response } = await client.GET("/api/health");
      const report = data ?? (error as HealthReport | undefined);
      if (!report || !("services" in report)) throw toApiError(response, error);
      return report;
    },
  });

export const useProjects = () =>
  useQuery({ queryKey: keys.projects, queryFn: () => unwrap(client.GET("/api/projects")) });

const projectPath = (project: string) => ({ params: { path: { project_uuid: project } } });

/** A project's pipelines (one query for the page and the pickers). */
const pipelinesQuery = (project: string) => ({
  queryKey: keys.pipelines(project),
  queryFn: () => unwrap(client.GET("/api/projects/{project_uuid}/pipelines", projectPath(project))),
});

export const usePipelines = (project: string) => useQuery(pipelinesQuery(project));

export const usePipeline = (project: string, pipeline: string) =>
  useQuery({
    queryKey: keys.pipeline(project, pipeline),
    enabled: Boolean(project && pipeline),
    queryFn: async () => {
      const doc = await unwrap(
        client.GET("/api/projects/{project_uuid}/pipelines/{pipeline_uuid}", {
          params: { path: { project_uuid: project, pipeline_uuid: pipeline } },
        }),
      );
      return { ...doc, definition: doc.definition as PipelineDefinition };
    },
  });

export interface RunFilters {
  pipeline_uuid?: string;
  status?: RunStatus;
  job_uuid?: string;
  limit?: number;
}

/** A page of runs, each with the live events that came before it was read. */
const replayed = <P extends { runs: RunView[] }>(page: P) => ({ ...page, runs: page.runs.map((r) => recentEvents.replay(r)) });

export const useRuns = (filters: RunFilters) =>
  useQuery({
    queryKey: keys.runs({
      pipeline_uuid: filters.pipeline_uuid,
      status: filters.status,
      job_uuid: filters.job_uuid,
      limit: String(filters.limit ?? 50),
    }),
    queryFn: () => unwrap(client.GET("/api/runs", { params: { query: { ...filters } } })).then(replayed),
  });

export const useRun = (run: string | null | undefined) =>
  useQuery({
    queryKey: keys.run(run ?? ""),
    enabled: Boolean(run),
    queryFn: async (): Promise<LiveRun> =>
      recentEvents.replay(
        await unwrap(client.GET("/api/runs/{run_uuid}", { params: { path: { run_uuid: run as string } } })),
      ),
  });

/** Every attempt of the run's steps, kept live by the step events. */
export const useAttempts = (run: string | null | undefined) =>
  useQuery({
    queryKey: keys.attempts(run ?? ""),
    enabled: Boolean(run),
    queryFn: async (): Promise<LiveAttempts> => {
      const read = await unwrap(
        client.GET("/api/runs/{run_uuid}/attempts", { params: { path: { run_uuid: run as string } } }),
      );
      return recentEvents
        .eventsOf(read.run_uuid)
        .reduce((l, e) => (e.kind === "step_status_changed" ? applyAttemptEvent(l, e) : l), read as LiveAttempts);
    },
  });

export const useJobs = () =>
  useQuery({ queryKey: keys.jobs, queryFn: () => unwrap(client.GET("/api/jobs", { params: { query: { limit: 200 } } })) });

export const useJob = (job: string) =>
  useQuery({
    queryKey: keys.job(job),
    queryFn: () => unwrap(client.GET("/api/jobs/{job_uuid}", { params: { path: { job_uuid: job } } })),
  });

export const useJobRuns = (job: string) =>
  useQuery({
    queryKey: keys.jobRuns(job),
    queryFn: () =>
      unwrap(
        client.GET("/api/jobs/{job_uuid}/runs", { params: { path: { job_uuid: job }, query: { limit: 200 } } }),
      ).then(replayed),
  });

export const useSessions = () =>
  useQuery({
    queryKey: keys.sessions,
    queryFn: () => unwrap(client.GET("/api/sessions", { params: { query: { limit: 200 } } })),
  });

/** Every project's pipelines (for pickers and filters). */
export const useAllPipelines = () => {
  const projects = useProjects();
  const list = projects.data?.projects ?? [];
  const pipelines = useQueries({
    queries: list.map((p) => pipelinesQuery(p.uuid)),
  });
  const options = list.flatMap((project, i) =>
    (pipelines[i]?.data?.pipelines ?? []).flatMap((pipeline) =>
      pipeline.uuid ? [{ project, pipeline, uuid: pipeline.uuid }] : [],
    ),
  );
  return { options, error: projects.error ?? pipelines.find((q) => q.error)?.error ?? null, loading: projects.isPending };
};

/** The next firing times of a cron expression, by the scheduler's rules (not live: a computation). */
export const useSchedulePreview = (cron: string | null) =>
  useQuery({
    queryKey: ["schedulePreview", cron],
    enabled: cron !== null,
    placeholderData: keepPreviousData,
    retry: false,
    queryFn: () => unwrap(client.GET("/api/schedules/preview", { params: { query: { cron: cron as string, count: 5 } } })),
  });

const envPath = (project: string, env: string) => ({ params: { path: { project_uuid: project, environment_uuid: env } } });

/** A project's environments, each with its latest build (kept live by the build events). */
export const useEnvironments = (project: string) =>
  useQuery({
    queryKey: keys.environments(project),
    queryFn: () => unwrap(client.GET("/api/projects/{project_uuid}/environments", projectPath(project))),
  });

export const useEnvironment = (project: string, env: string) =>
  useQuery({
    queryKey: keys.environment(project, env),
    queryFn: () => unwrap(client.GET("/api/projects/{project_uuid}/environments/{environment_uuid}", envPath(project, env))),
  });

/** An environment's builds, newest first (kept live by the build events). */
export const useBuilds = (project: string, env: string) =>
  useQuery({
    queryKey: keys.builds(project, env),
    queryFn: () =>
      unwrap(client.GET("/api/projects/{project_uuid}/environments/{environment_uuid}/builds", envPath(project, env))),
  });
