// The pipeline editor: the canvas, a properties panel (the selected step's,
// else the pipeline's), undo and redo, saving as the file on disk follows,
// and the run buttons (disabled, with the reason, while the pipeline cannot run).
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { ApiError, client, unwrap } from "../../../api/client";
import { useRuns } from "../../../api/queries";
import type { RunType } from "../../../api/types";
import { ErrorPanel } from "../../../components/ErrorPanel";
import { keys } from "../../../live/cache";
import { Link } from "../../../router";
import { autoLayout } from "../layout";
import { blockedReason, RunControls } from "../RunControls";
import { parentsOf, stepsToRun } from "../selection";
import { useStartRun } from "../startRun";
import { AddStep } from "./AddStep";
import { ConflictDialog } from "./ConflictDialog";
import { deleteFrom, EditorCanvas, type Selection } from "./EditorCanvas";
import { canRedo, canUndo } from "./history";
import { addStep, moveSteps, newStep, placeForNew, titleOf } from "./model";
import { PipelineProperties } from "./PipelineProperties";
import { markProblems } from "./problems";
import { StepProperties } from "./StepProperties";
import { SAVE_LABELS } from "./sync";
import { useEditorKeys } from "./keys";
import { usePipelineEditor } from "./usePipelineEditor";

const NOTHING: Selection = { steps: new Set(), edges: new Set() };

export function EditorPage({ project, pipeline }: { project: string; pipeline: string }) {
  const editor = usePipelineEditor(project, pipeline);
  const { definition, doc } = editor;
  const [selection, setSelection] = useState<Selection>(NOTHING);
  const [adding, setAdding] = useState(false);
  const [layouts, setLayouts] = useState(0);
  const [preview, setPreview] = useState<RunType | null>(null);
  const history = useRuns({ pipeline_uuid: pipeline, limit: 20 });
  const session = useQuery({
    queryKey: keys.session(project, pipeline),
    queryFn: () =>
      unwrap(client.GET("/api/sessions/{project_uuid}/{pipeline_uuid}", { params: { path: { project_uuid: project, pipeline_uuid: pipeline } } })).catch(
        (e: unknown) => {
          if (e instanceof ApiError && e.status === 404) return null;
          throw e;
        },
      ),
  });
  const start = useStartRun(project, pipeline, selection.steps);
  const problems = doc.data?.problems ?? [];
  const marks = useMemo(() => markProblems(definition, problems), [definition, problems]);
  const stepCount = Object.keys(definition.steps ?? {}).length;
  const base = `/projects/${project}/pipelines/${pipeline}`;

  // A selection of steps that are gone (undo, a reload) is dropped.
  const steps = definition.steps ?? {};
  const liveSelection = useRef(selection);
  liveSelection.current = selection;
  useEffect(() => {
    const kept = [...liveSelection.current.steps].filter((s) => s in (definition.steps ?? {}));
    if (kept.length !== liveSelection.current.steps.size) setSelection({ steps: new Set(kept), edges: new Set() });
  }, [definition]);

  const deleteSelected = () => {
    const cut = [...selection.edges].map((id) => {
      const [source = "", target = ""] = id.split("->");
      return { source, target };
    });
    editor.edit(deleteFrom(definition, [...selection.steps], cut));
    setSelection(NOTHING);
  };
  useEditorKeys({ undo: editor.undo, redo: editor.redo, save: editor.saveNow });

  if (doc.error && !editor.loaded) return <main className="page"><ErrorPanel error={doc.error} title="The pipeline could not be read" /></main>;
  if (!editor.loaded || !doc.data) return <main className="page"><p>Reading the pipeline…</p></main>;
  const label = SAVE_LABELS[editor.state];
  const only = selection.steps.size === 1 ? [...selection.steps][0] : undefined;
  const blocked = editor.dirty ? "Cannot run: edits not saved yet" : blockedReason(problems);
  return (
    <main className="page pipeline-page editor-page">
      <div className="pipeline-head">
        <h1>
          <span aria-hidden="true">✎</span> {definition.name || "untitled"} <span className="muted">{doc.data.path}</span>
        </h1>
        <span className={`save-state save-${editor.state}`} role="status" data-testid="save-state" data-state={editor.state}>
          <span aria-hidden="true">{label.icon}</span> {label.text}
        </span>{" "}
        <Link to={base}>view runs</Link> · <Link to={`/projects/${project}`}>project</Link>
      </div>
      <ErrorPanel error={editor.failure} title="The pipeline was not saved" />
      <div className="editor-tools" role="toolbar" aria-label="Edit">
        <button type="button" onClick={() => setAdding(true)} data-testid="add-step-button">
          + Add step
        </button>
        <button type="button" onClick={editor.undo} disabled={!canUndo(editor.history)} title="Undo (Ctrl+Z)">
          ↶ Undo
        </button>
        <button type="button" onClick={editor.redo} disabled={!canRedo(editor.history)} title="Redo (Ctrl+Shift+Z, Ctrl+Y)">
          ↷ Redo
        </button>
        <button type="button" onClick={deleteSelected} disabled={selection.steps.size + selection.edges.size === 0} title="Delete the selected steps and connections (Delete)">
          ✖ Delete
        </button>
        <button
          type="button"
          onClick={() => {
            editor.edit(moveSteps(definition, autoLayout(definition)));
            setLayouts((n) => n + 1);
          }}
          disabled={stepCount === 0}
        >
          ⇄ Auto-layout
        </button>
        <button type="button" onClick={editor.saveNow} disabled={editor.state !== "unsaved"} title="Save now (Ctrl+S); changes are saved on their own a moment after">
          Save now
        </button>
      </div>
      <RunControls
        selectedCount={selection.steps.size}
        busy={start.isPending}
        blocked={blocked}
        run={null}
        history={history.data?.runs ?? []}
        onPreview={setPreview}
        onRun={(type) => start.mutate(type)}
        onAbort={() => undefined}
        onPick={() => undefined}
      />
      <ErrorPanel error={start.error} title="The run was refused" />
      <p className="muted hint">
        Drag a step to move it (shift-drag a box or shift-click to select several); drag from a step's right dot to
        another step to connect; <kbd>Delete</kbd> removes the selection; <kbd>Ctrl</kbd>+<kbd>Z</kbd> undo.
        {preview && ` ${stepsToRun(parentsOf(definition), preview, selection.steps).size} step(s) would run.`}
      </p>
      {marks.pipeline.length > 0 && (
        <div className="banner banner-error" role="alert">
          {marks.pipeline.map((m) => (
            <div key={m}>
              <span aria-hidden="true">✖</span> {m}
            </div>
          ))}
        </div>
      )}
      <div className="pipeline-body">
        <EditorCanvas
          definition={definition}
          marks={marks}
          selection={selection}
          onSelect={setSelection}
          onEdit={(next) => editor.edit(next)}
          fitToken={`${stepCount}/${layouts}`}
        />
        {only && steps[only] ? (
          <StepProperties project={project} definition={definition} uuid={only} problems={marks.steps.get(only) ?? []} session={session.data} onEdit={editor.edit} />
        ) : (
          <PipelineProperties
            project={project}
            pipeline={pipeline}
            definition={definition}
            envVariables={doc.data.env_variables ?? {}}
            problems={marks.pipeline}
            onEdit={editor.edit}
          />
        )}
      </div>
      {adding && (
        <AddStep
          project={project}
          onClose={() => setAdding(false)}
          onAdd={(file, kernel) => {
            const uuid = crypto.randomUUID();
            editor.edit(addStep(definition, newStep(uuid, file, titleOf(file), kernel, placeForNew(definition))));
            setSelection({ steps: new Set([uuid]), edges: new Set() });
            setAdding(false);
          }}
        />
      )}
      {editor.conflict && <ConflictDialog path={doc.data.path} onReload={editor.reload} onOverwrite={editor.overwrite} />}
    </main>
  );
}
