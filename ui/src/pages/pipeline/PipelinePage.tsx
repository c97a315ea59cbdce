// The pipeline view: the DAG with each step's state in the shown run
// (live), partial runs of a selection, abort, the run picker, and the
// selected step's panel with its live log.
import { useMutation } from "@tanstack/react-query";
import { useLayoutEffect, useMemo, useState } from "react";
import { client, unwrap } from "../../api/client";
import { usePipeline, useRun, useRuns } from "../../api/queries";
import type { RunType, StepView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Link, navigate } from "../../router";
import { Dag } from "./Dag";
import { blockedReason, RunControls } from "./RunControls";
import { parentsOf, stepsToRun, topologicalOrder } from "./selection";
import { SessionBox } from "./SessionBox";
import { useStartRun } from "./startRun";
import { StepPanel } from "./StepPanel";
import { StepStates } from "./stepStates";
import { useShortcuts } from "./shortcuts";

const NONE: ReadonlySet<string> = new Set();

interface Props {
  project: string;
  pipeline: string;
  run: string | null;
  step: string | null;
}

export function PipelinePage({ project, pipeline, run: chosenRun, step }: Props) {
  const doc = usePipeline(project, pipeline);
  const history = useRuns({ pipeline_uuid: pipeline, limit: 20 });
  const runUuid = chosenRun ?? history.data?.runs[0]?.uuid ?? null;
  const run = useRun(runUuid);
  const [selected, setSelected] = useState<Set<string>>(() => new Set(step ? [step] : []));
  const [opened, setOpened] = useState<string | null>(step);
  const [preview, setPreview] = useState<RunType | null>(null);
  const definition = doc.data?.definition;
  const parents = useMemo(() => (definition ? parentsOf(definition) : new Map<string, string[]>()), [definition]);
  const order = useMemo(() => topologicalOrder(parents), [parents]);
  const states = useMemo(
    () => new Map<string, StepView>((run.data?.pipeline_steps ?? []).map((s) => [s.step_uuid, s])),
    [run.data],
  );
  // The DAG's nodes and edges read the states from here: a live event
  // re-renders its step's node and edges, not the DAG (stepStates.tsx).
  const [stepStates] = useState(() => new StepStates(states));
  useLayoutEffect(() => stepStates.update(states), [stepStates, states]);
  const highlighted = useMemo(
    () => (preview ? stepsToRun(parents, preview, selected) : NONE),
    [parents, preview, selected],
  );
  const base = `/projects/${project}/pipelines/${pipeline}`;

  const start = useStartRun(project, pipeline, selected);
  const abort = useMutation({
    mutationFn: (uuid: string) => unwrap(client.DELETE("/api/runs/{run_uuid}", { params: { path: { run_uuid: uuid } } })),
  });
  useShortcuts({
    run: () => start.mutate(selected.size > 0 ? "selection" : "full"),
    abort: () => runUuid && abort.mutate(runUuid),
    move: (by) => {
      const at = order.findIndex((s) => selected.has(s));
      const next = order[Math.min(order.length - 1, Math.max(0, at < 0 ? 0 : at + by))];
      if (next) {
        setSelected(new Set([next]));
        setOpened(next);
      }
    },
    clear: () => {
      setSelected(new Set());
      setOpened(null);
    },
  });

  if (doc.error) return <main className="page"><ErrorPanel error={doc.error} title="The pipeline could not be read" /></main>;
  if (!doc.data || !definition) return <main className="page"><p>Reading the pipeline…</p></main>;
  const focusStep = opened ?? (selected.size === 1 ? [...selected][0] : undefined);
  const focus = focusStep ? definition.steps?.[focusStep] : undefined;
  return (
    <main className="page pipeline-page">
      <div className="pipeline-head">
        <h1>
          {definition.name} <span className="muted">{doc.data.path}</span>
        </h1>
        <Link to={`${base}/edit`} data-testid="edit-pipeline">
          ✎ Edit
        </Link>{" "}
        · <Link to={`/projects/${project}`}>project</Link> · <Link to={`/runs?pipeline_uuid=${pipeline}`}>its runs</Link> · <Link to={`/jobs/new?project_uuid=${project}&pipeline_uuid=${pipeline}`} data-testid="new-job-here">new job</Link>
        {runUuid && (
          <>
            {" "}
            · <Link to={`/runs/${runUuid}`}>this run's timeline</Link>
          </>
        )}
      </div>
      {(doc.data.problems ?? []).length > 0 && (
        <div className="banner banner-error" role="alert">
          <strong>
            <span aria-hidden="true">✖</span> This pipeline cannot run:
          </strong>
          <ul>
            {(doc.data.problems ?? []).map((p, i) => (
              <li key={i}>
                <code>{(p.loc ?? []).join(".")}</code> {p.msg}
              </li>
            ))}
          </ul>
        </div>
      )}
      <RunControls
        selectedCount={selected.size}
        busy={start.isPending}
        blocked={blockedReason(doc.data.problems ?? [])}
        run={run.data ?? null}
        history={history.data?.runs ?? []}
        onPreview={setPreview}
        onRun={(type) => start.mutate(type)}
        onAbort={() => runUuid && abort.mutate(runUuid)}
        onPick={(uuid) => navigate(`${base}?run=${uuid}`)}
      />
      <p className="muted hint">
        Click a step to select it, shift-click to add, shift-drag a box. Keys: <kbd>r</kbd> run the selection (all when
        none), <kbd>a</kbd> abort, <kbd>↑</kbd>/<kbd>↓</kbd> move between steps, <kbd>Esc</kbd> clear.
      </p>
      <SessionBox project={project} pipeline={pipeline} pipelinePath={doc.data.path} />
      <ErrorPanel error={start.error} title="The run was refused" />
      <ErrorPanel error={abort.error} title="The abort failed" />
      <ErrorPanel error={run.error} title="The run could not be read" />
      <div className="pipeline-body">
        <Dag definition={definition} stepStates={stepStates} selected={selected} highlighted={highlighted} onSelect={setSelected} onOpen={setOpened} />
        {focus && focusStep && <StepPanel step={focus} state={states.get(focusStep) ?? null} run={runUuid} />}
      </div>
    </main>
  );
}
