// The selected step's properties: title, file (typed or picked), kernel and
// environment (those the pipeline names, or any typed), parameters (JSON,
// checked as typed), and its file opened in the session's JupyterLab.
import { useState } from "react";
import type { SessionView } from "../../../api/types";
import { FilePicker } from "./FilePicker";
import { JsonField } from "./JsonField";
import { PropertiesPanel } from "./PropertiesPanel";
import { labFileLink } from "./lab";
import { connect, disconnect, kernelOf, KNOWN_KERNELS, setStep, type Definition } from "./model";

interface Props {
  project: string;
  definition: Definition;
  uuid: string;
  problems: string[];
  session: SessionView | null | undefined;
  onEdit(next: Definition, group?: string): void;
}

export function StepProperties({ project, definition, uuid, problems, session, onEdit }: Props) {
  const [picking, setPicking] = useState(false);
  const step = definition.steps?.[uuid];
  if (!step) return null;
  const steps = Object.values(definition.steps ?? {});
  const kernels = [...new Set([...KNOWN_KERNELS.map((k) => k.name), ...steps.map((s) => s.kernel?.name ?? "").filter(Boolean)])];
  const environments = [...new Set(steps.map((s) => s.environment ?? "").filter(Boolean))];
  const set = (patch: Parameters<typeof setStep>[2], field: string) => onEdit(setStep(definition, uuid, patch), `${uuid}.${field}`);
  const lab = labFileLink(session, step.file_path);
  return (
    <PropertiesPanel of="Step" problems={problems}>
      <div className="form-grid">
        <label htmlFor="step-title">Title</label>
        <input id="step-title" value={step.title ?? ""} onChange={(e) => set({ title: e.target.value }, "title")} data-testid="step-title" />
        <label htmlFor="step-file">File</label>
        <span className="with-button">
          <input id="step-file" value={step.file_path} onChange={(e) => set({ file_path: e.target.value }, "file")} data-testid="step-file" />
          <button type="button" onClick={() => setPicking(!picking)} aria-expanded={picking}>
            Pick…
          </button>
        </span>
        {picking && (
          <div className="span-2">
            <FilePicker
              project={project}
              onPick={(file) => {
                set({ file_path: file }, "file-picked");
                setPicking(false);
              }}
            />
          </div>
        )}
        <label htmlFor="step-kernel">Kernel</label>
        <input
          id="step-kernel"
          list="step-kernels"
          value={step.kernel?.name ?? ""}
          onChange={(e) => set({ kernel: kernelOf(e.target.value) }, "kernel")}
          title="The notebook's kernel (notebooks only); any kernel name may be typed"
        />
        <datalist id="step-kernels">
          {kernels.map((k) => (
            <option key={k} value={k}>
              {kernelOf(k).display_name}
            </option>
          ))}
        </datalist>
        <label htmlFor="step-environment">Environment</label>
        <input
          id="step-environment"
          list="step-environments"
          value={step.environment ?? ""}
          placeholder="the stack's default"
          onChange={(e) => set({ environment: e.target.value }, "environment")}
        />
        <datalist id="step-environments">
          {environments.map((e) => (
            <option key={e} value={e} />
          ))}
        </datalist>
      </div>
      <fieldset className="runs-after">
        <legend>Runs after (its incoming connections)</legend>
        {steps.filter((s) => s.uuid !== uuid).length === 0 && <span className="muted">No other step yet.</span>}
        {steps
          .filter((s) => s.uuid !== uuid)
          .map((other) => {
            const on = (step.incoming_connections ?? []).includes(other.uuid);
            return (
              <label key={other.uuid}>
                <input
                  type="checkbox"
                  checked={on}
                  onChange={() => onEdit(on ? disconnect(definition, other.uuid, uuid) : connect(definition, other.uuid, uuid))}
                />{" "}
                {other.title || other.file_path}
              </label>
            );
          })}
      </fieldset>
      <JsonField
        key={uuid}
        id="step-parameters"
        label="Parameters (JSON; read with orchest.get_step_param)"
        value={step.parameters ?? {}}
        onChange={(parameters) => set({ parameters }, "parameters")}
      />
      <p>
        {lab ? (
          <a href={lab} target="_blank" rel="noreferrer" data-testid="open-in-lab">
            Open {step.file_path} in JupyterLab ↗
          </a>
        ) : (
          <span className="muted">Launch the pipeline's session to open its files in JupyterLab.</span>
        )}
      </p>
    </PropertiesPanel>
  );
}
