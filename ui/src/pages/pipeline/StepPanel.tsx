// The step beside the DAG: its file, kernel, environment, parameters, its
// state in the shown run, its live log and its executed notebook.
import type { PipelineStep, StepView } from "../../api/types";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatTime, useNow } from "../../components/time";
import { ENDED } from "../../live/order";
import { LogView } from "./LogView";
import { apiFetch } from "../../api/client";

async function download(run: string, step: string, name: string, attempt: number) {
  const response = await apiFetch(`/api/runs/${run}/steps/${step}/artifacts/${name}?attempt=${attempt}`);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `${step.slice(0, 8)}-attempt${attempt}-${name}`;
  a.click();
  URL.revokeObjectURL(url);
}

export function StepPanel({ step, state, run }: { step: PipelineStep; state: StepView | null; run: string | null }) {
  const now = useNow(state?.status === "STARTED");
  return (
    <aside className="step-panel card" aria-label="Step" data-testid="step-panel">
      <h2>{step.title || step.file_path}</h2>
      <dl className="facts">
        <dt>File</dt>
        <dd>
          <code>{step.file_path}</code>
        </dd>
        <dt>Kernel</dt>
        <dd>{step.kernel?.display_name ?? step.kernel?.name ?? "-"}</dd>
        <dt>Environment</dt>
        <dd>{step.environment || "-"}</dd>
        <dt>Parameters</dt>
        <dd>
          <code>{JSON.stringify(step.parameters ?? {})}</code>
        </dd>
      </dl>
      {state && run ? (
        <>
          <h3>
            In this run <StatusBadge status={state.status} />
          </h3>
          <dl className="facts">
            <dt>Attempt</dt>
            <dd>{state.attempt}</dd>
            <dt>Started</dt>
            <dd>{formatTime(state.started_time)}</dd>
            <dt>Duration</dt>
            <dd>{durationOf(state.started_time, state.finished_time, now)}</dd>
            {state.exit_code !== null && state.exit_code !== undefined && (
              <>
                <dt>Exit code</dt>
                <dd>{state.exit_code}</dd>
              </>
            )}
            {state.error && (
              <>
                <dt>Error</dt>
                <dd className="error-text">{state.error}</dd>
              </>
            )}
          </dl>
          {(state.artifacts ?? []).map((name) => (
            <button key={name} type="button" onClick={() => void download(run, state.step_uuid, name, state.attempt)}>
              Download {name}
            </button>
          ))}
          <h3>Log</h3>
          <LogView run={run} step={state.step_uuid} attempt={state.attempt} ended={ENDED.has(state.status)} />
        </>
      ) : (
        <p className="muted">Not part of the shown run.</p>
      )}
    </aside>
  );
}
