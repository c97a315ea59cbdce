// Create a job: pipeline, name, parameter grid (rows deselectable), schedule
// (now, at a time, cron with its next firing times), env variables,
// retention; saved as a draft or started. The API's problems are listed at
// the fields they name.
import { useMutation } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, client, unwrap } from "../../api/client";
import { usePipeline } from "../../api/queries";
import { ErrorPanel } from "../../components/ErrorPanel";
import { PipelineSelect } from "../../components/PipelineSelect";
import { Link, navigate } from "../../router";
import { EnvEditor } from "./EnvEditor";
import { envProblems, jobBody, problemsByField, type EnvRow, type Field, type Retention } from "./form";
import { expandGrid, gridFromDefinition, gridProblems, selectedSets, toggleRow, type GridParam } from "./grid";
import { GridEditor } from "./GridEditor";
import "./jobs.css";
import { INITIAL_SCHEDULE, localOffset, scheduleBody, type ScheduleForm } from "./schedule";
import { ScheduleEditor } from "./ScheduleEditor";

function Section({ title, problems, children, id }: { title: string; problems?: string[]; children: ReactNode; id: string }) {
  return (
    <section className="card" aria-labelledby={id} data-field={id}>
      <h2 id={id}>{title}</h2>
      {children}
      {problems && problems.length > 0 && (
        <ul className="field-problems" role="alert" data-testid={`problems-${id}`}>
          {problems.map((p, i) => (
            <li key={i}>
              <span aria-hidden="true">✖</span> {p}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function NewJobPage({ search }: { search: URLSearchParams }) {
  const project = search.get("project_uuid") ?? "";
  const pipeline = search.get("pipeline_uuid") ?? "";
  const doc = usePipeline(project, pipeline);
  const [name, setName] = useState("");
  const [grid, setGrid] = useState<GridParam[]>([]);
  const [gridOf, setGridOf] = useState("");
  const [deselected, setDeselected] = useState<ReadonlySet<string>>(new Set());
  const [schedule, setSchedule] = useState<ScheduleForm>(INITIAL_SCHEDULE);
  const [env, setEnv] = useState<EnvRow[]>([]);
  const [retention, setRetention] = useState<Retention>({ all: true, keep: 10 });

  // A pipeline picked (or read again after an edit elsewhere): its parameters start the grid.
  const picked = `${project}/${pipeline}`;
  useEffect(() => {
    if (doc.data && gridOf !== picked) {
      setGrid(gridFromDefinition(doc.data.definition));
      setDeselected(new Set());
      setGridOf(picked);
    }
  }, [doc.data, gridOf, picked]);

  const rows = useMemo(() => expandGrid(grid), [grid]);
  const sets = selectedSets(rows, deselected);
  const timing = scheduleBody(schedule, localOffset(schedule.at));
  const blockers = [
    !pipeline && "choose a pipeline",
    !name.trim() && "give the job a name",
    gridProblems(grid).length > 0 && "fix the parameter values",
    rows.length > 0 && sets.length === 0 && "select at least one run",
    timing.problem && `schedule: ${timing.problem}`,
    envProblems(env).some(Boolean) && "fix the env variables",
  ].filter((b): b is string => Boolean(b));

  const save = useMutation({
    mutationFn: (draft: boolean) =>
      unwrap(
        client.POST("/api/jobs", {
          body: jobBody({ name, project, pipeline, sets, env, schedule: timing.schedule ?? {}, retention, draft }),
        }),
      ),
    onSuccess: (job) => navigate(`/jobs/${job.uuid}`),
    // The refusal is listed at the top, each problem at its field: show the top.
    onError: () => window.scrollTo({ top: 0 }),
  });
  const apiProblems: Partial<Record<Field, string[]>> =
    save.error instanceof ApiError ? problemsByField(save.error.errors) : {};

  const pick = (p: string, q: string) => {
    const next = new URLSearchParams(search);
    next.set("project_uuid", p);
    next.set("pipeline_uuid", q);
    if (!p) (next.delete("project_uuid"), next.delete("pipeline_uuid"));
    navigate(`/jobs/new?${next.toString()}`, true);
  };

  return (
    <main className="page new-job">
      <h1>New job</h1>
      <p className="muted">
        A job runs a pipeline as it is now (a snapshot of its project), once per selected row of its parameter grid, on
        each execution of its schedule. <Link to="/jobs">All jobs</Link>
      </p>
      <ErrorPanel error={save.error} title="The job was refused" />
      <Section title="Pipeline and name" id="pipeline" problems={[...(apiProblems.pipeline ?? []), ...(apiProblems.name ?? [])]}>
        <div className="inline-form">
          <label htmlFor="job-pipeline">Pipeline</label>
          <PipelineSelect id="job-pipeline" value={pipeline ? picked : ""} onChange={pick} invalid={Boolean(apiProblems.pipeline)} />
          <label htmlFor="job-name">Name</label>
          <input
            id="job-name"
            data-testid="job-name"
            value={name}
            placeholder="nightly training"
            aria-invalid={apiProblems.name ? true : undefined}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <ErrorPanel error={pipeline ? doc.error : null} title="The pipeline could not be read" />
      </Section>
      <Section title="Parameters" id="parameters" problems={apiProblems.parameters}>
        {!pipeline && <p className="muted">Choose a pipeline to see its parameters.</p>}
        {pipeline && doc.isPending && <p className="muted">Reading the pipeline…</p>}
        {pipeline && doc.data && (
          <GridEditor
            grid={grid}
            onGrid={setGrid}
            rows={rows}
            deselected={deselected}
            onToggle={(key) => setDeselected(toggleRow(deselected, key))}
            onAll={(all) => setDeselected(all ? new Set() : new Set(rows.map((r) => r.key)))}
          />
        )}
      </Section>
      <Section title="Schedule" id="schedule" problems={apiProblems.schedule}>
        <ScheduleEditor form={schedule} onForm={setSchedule} />
      </Section>
      <div className="two-columns">
        <Section title="Env variables" id="env" problems={apiProblems.env}>
          <EnvEditor rows={env} onRows={setEnv} />
        </Section>
        <Section title="Retention" id="retention" problems={apiProblems.retention}>
          <label>
            <input type="radio" name="retention" checked={retention.all} onChange={() => setRetention({ ...retention, all: true })} />{" "}
            Keep every run
          </label>
          <br />
          <label>
            <input type="radio" name="retention" checked={!retention.all} onChange={() => setRetention({ ...retention, all: false })} />{" "}
            Keep the newest{" "}
            <input
              type="number"
              min={0}
              aria-label="runs kept"
              value={retention.keep}
              disabled={retention.all}
              onChange={(e) => setRetention({ all: false, keep: Number(e.target.value) })}
            />{" "}
            ended runs (older ones are deleted with their logs)
          </label>
        </Section>
      </div>
      {apiProblems.other && (
        <ul className="field-problems" role="alert">
          {apiProblems.other.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ul>
      )}
      <div className="run-controls">
        <button type="button" data-testid="start-job" disabled={blockers.length > 0 || save.isPending} onClick={() => save.mutate(false)}>
          ▶ Start job
        </button>
        <button type="button" data-testid="save-draft" disabled={blockers.length > 0 || save.isPending} onClick={() => save.mutate(true)}>
          ✎ Save as draft
        </button>
        {blockers.length > 0 && <span className="muted">To save: {blockers.join("; ")}.</span>}
        {save.isPending && <span className="muted">Saving…</span>}
      </div>
    </main>
  );
}
