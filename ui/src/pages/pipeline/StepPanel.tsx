// The step beside the DAG: its file, kernel, environment, parameters; in
// the shown run, every attempt (live), the live log, and for a notebook
// step the executed notebook rendered (and downloadable); other artifacts
// as downloads.
import { useState } from "react";
import { apiFetch } from "../../api/client";
import { useAttempts } from "../../api/queries";
import type { PipelineStep, StepView } from "../../api/types";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { attemptsOf } from "../../live/attempts";
import { ENDED } from "../../live/order";
import { LogView } from "./LogView";
import { StepAttempts } from "./StepAttempts";
import { EXECUTED, StepNotebook } from "./StepNotebook";
import "./step-panel.css";

async function download(run: string, step: string, name: string, attempt: number) {
  const response = await apiFetch(`/api/runs/${run}/steps/${step}/artifacts/${name}?attempt=${attempt}`);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `${step.slice(0, 8)}-attempt${attempt}-${name}`;
  a.click();
  URL.revokeObjectURL(url);
}

function Facts({ step }: { step: PipelineStep }) {
  const params = Object.entries(step.parameters ?? {});
  return (
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
        {params.length === 0 ? (
          <span className="muted">none</span>
        ) : (
          <ul className="params">
            {params.map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> = <code>{JSON.stringify(v)}</code>
              </li>
            ))}
          </ul>
        )}
      </dd>
    </dl>
  );
}

export function StepPanel({ step, state, run }: { step: PipelineStep; state: StepView | null; run: string | null }) {
  const attempts = useAttempts(state && run ? run : null);
  const mine = attemptsOf(attempts.data, step.uuid);
  // The attempt whose notebook is shown: the one picked for this step of this run, else the latest.
  const [picked, setPicked] = useState<{ at: string; attempt: number } | null>(null);
  const at = `${run}/${step.uuid}`;
  const withNotebook = mine.filter((a) => (a.artifacts ?? []).includes(EXECUTED));
  const chosen = picked?.at === at ? picked.attempt : null;
  const shown = withNotebook.find((a) => a.attempt === chosen) ?? withNotebook[withNotebook.length - 1] ?? null;
  const others = (state?.artifacts ?? []).filter((name) => name !== EXECUTED);
  const isNotebook = step.file_path.endsWith(".ipynb");
  return (
    <aside className="step-panel card" aria-label="Step" data-testid="step-panel">
      <h2>{step.title || step.file_path}</h2>
      <Facts step={step} />
      {state && run ? (
        <>
          <h3>
            In this run <StatusBadge status={state.status} />
          </h3>
          <ErrorPanel error={attempts.error} title="The attempts could not be read" />
          <StepAttempts attempts={mine} shown={shown?.attempt ?? null} onShow={(attempt) => setPicked({ at, attempt })} />
          {others.map((name) => (
            <button key={name} type="button" onClick={() => void download(run, state.step_uuid, name, state.attempt)}>
              ⤓ Download {name}
            </button>
          ))}
          <h3>Log</h3>
          <LogView run={run} step={state.step_uuid} attempt={state.attempt} ended={ENDED.has(state.status)} />
          {shown ? (
            <StepNotebook key={shown.attempt} run={run} step={state.step_uuid} attempt={shown.attempt} title={step.title || step.uuid} />
          ) : (
            isNotebook && <p className="muted">The executed notebook shows here once an attempt has ended.</p>
          )}
        </>
      ) : (
        <p className="muted">Not part of the shown run.</p>
      )}
    </aside>
  );
}
