// A pipeline picked among every project's (the projects API), by its uuid.
import { useAllPipelines } from "../api/queries";
import { ErrorPanel } from "./ErrorPanel";

interface Props {
  /** `project_uuid/pipeline_uuid`, a pipeline uuid alone (a filter), or "" for none. */
  value: string;
  onChange: (project: string, pipeline: string) => void;
  /** The label of the "none" option (a filter's "any"); without it a pipeline must be picked. */
  none?: string;
  id?: string;
  invalid?: boolean;
}

export function PipelineSelect({ value, onChange, none, id, invalid }: Props) {
  const { options, error, loading } = useAllPipelines();
  const full = value.includes("/") ? value : options.find((o) => o.uuid === value);
  const selected = typeof full === "string" ? full : full ? `${full.project.uuid}/${full.uuid}` : value && `?/${value}`;
  const known = selected === "" || options.some((o) => `${o.project.uuid}/${o.uuid}` === selected);
  return (
    <>
      <select
        id={id}
        value={selected}
        aria-invalid={invalid || undefined}
        data-testid="pipeline-select"
        onChange={(e) => {
          const [project = "", pipeline = ""] = e.target.value.split("/");
          onChange(project, pipeline);
        }}
      >
        <option value="">{none ?? (loading ? "reading pipelines…" : "choose a pipeline")}</option>
        {!known && <option value={selected}>{selected.split("/")[1]}</option>}
        {options.map((o) => (
          <option key={`${o.project.uuid}/${o.uuid}`} value={`${o.project.uuid}/${o.uuid}`}>
            {o.project.name} / {o.pipeline.name ?? o.pipeline.path}
          </option>
        ))}
      </select>
      <ErrorPanel error={error} title="Pipelines could not be read" />
    </>
  );
}
