// The pipeline's properties, shown when no step is selected: name,
// parameters, settings (as the file holds them) and env variables (kept
// beside the file by the scheduler: saved on their own).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { client, unwrap } from "../../../api/client";
import { ErrorPanel } from "../../../components/ErrorPanel";
import { keys } from "../../../live/cache";
import { JsonField } from "./JsonField";
import { PropertiesPanel } from "./PropertiesPanel";
import { setPipeline, type Definition } from "./model";

interface Props {
  project: string;
  pipeline: string;
  definition: Definition;
  envVariables: Record<string, string>;
  problems: string[];
  onEdit(next: Definition, group?: string): void;
}

type Settings = NonNullable<Definition["settings"]>;

/** A number typed in a field: empty is "not set" (null). */
const numberOf = (text: string): number | null => (text.trim() === "" ? null : Number(text));
/** A count typed in a field: a whole number, 0 when empty or below. */
const countOf = (text: string): number => Math.max(0, Math.trunc(Number(text) || 0));

export function PipelineProperties({ project, pipeline, definition, envVariables, problems, onEdit }: Props) {
  const qc = useQueryClient();
  const [env, setEnv] = useState(envVariables);
  const envText = JSON.stringify(envVariables);
  useEffect(() => setEnv(JSON.parse(envText) as Record<string, string>), [envText]); // read again from the server
  const settings: Settings = definition.settings ?? {};
  const setSetting = (patch: Partial<Settings>, field: string) =>
    onEdit(setPipeline(definition, { settings: { ...settings, ...patch } }), `settings.${field}`);
  const saveEnv = useMutation({
    mutationFn: () =>
      unwrap(
        client.PUT("/api/projects/{project_uuid}/pipelines/{pipeline_uuid}/env_variables", {
          params: { path: { project_uuid: project, pipeline_uuid: pipeline } },
          body: { env_variables: env },
        }),
      ),
    onSuccess: (doc) => qc.setQueryData(keys.pipeline(project, pipeline), { ...doc, definition: doc.definition as Definition }),
  });
  return (
    <PropertiesPanel of="Pipeline" problems={problems}>
      <div className="form-grid">
        <label htmlFor="pipeline-name">Name</label>
        <input id="pipeline-name" value={definition.name ?? ""} onChange={(e) => onEdit(setPipeline(definition, { name: e.target.value }), "name")} />
        <label htmlFor="setting-retries">Retries</label>
        <input
          id="setting-retries"
          type="number"
          min={0}
          max={1000}
          value={settings.retries ?? 0}
          onChange={(e) => setSetting({ retries: countOf(e.target.value) }, "retries")}
          title="Attempts after the first, for every step"
        />
        <label htmlFor="setting-backoff">Retry backoff (s)</label>
        <input
          id="setting-backoff"
          type="number"
          min={0.1}
          step="any"
          value={settings.retry_backoff_seconds ?? 1}
          onChange={(e) => setSetting({ retry_backoff_seconds: Math.max(0.1, Number(e.target.value) || 1) }, "backoff")}
        />
        <label htmlFor="setting-timeout">Step timeout (s)</label>
        <input
          id="setting-timeout"
          type="number"
          min={0}
          step="any"
          placeholder="none"
          value={settings.timeout_seconds ?? ""}
          onChange={(e) => {
            const value = numberOf(e.target.value);
            setSetting({ timeout_seconds: value !== null && value > 0 ? value : null }, "timeout");
          }}
        />
        <label htmlFor="setting-parallelism">Parallel steps</label>
        <input
          id="setting-parallelism"
          type="number"
          min={0}
          value={settings.max_steps_parallelism ?? 0}
          title="0: no limit beyond the runners' slots"
          onChange={(e) => setSetting({ max_steps_parallelism: countOf(e.target.value) }, "parallelism")}
        />
        <label htmlFor="setting-fail-fast">Fail fast</label>
        <input
          id="setting-fail-fast"
          type="checkbox"
          checked={settings.fail_fast ?? false}
          onChange={(e) => setSetting({ fail_fast: e.target.checked }, "fail-fast")}
          title="Stop the run's other steps when one fails"
        />
      </div>
      <JsonField id="pipeline-parameters" label="Parameters (JSON; read with orchest.get_pipeline_param)" value={definition.parameters ?? {}} onChange={(parameters) => onEdit(setPipeline(definition, { parameters }), "parameters")} />
      <JsonField id="pipeline-env" label="Env variables (JSON of strings)" value={env} strings onChange={(v) => setEnv(v as Record<string, string>)} />
      <button type="button" onClick={() => saveEnv.mutate()} disabled={saveEnv.isPending}>
        Save env variables
      </button>{" "}
      {saveEnv.isSuccess && <span className="muted">✔ saved</span>}
      <ErrorPanel error={saveEnv.error} title="The env variables were not saved" />
    </PropertiesPanel>
  );
}
