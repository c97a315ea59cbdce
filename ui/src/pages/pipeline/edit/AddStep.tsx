// Adding a step: a new file from a template (a notebook with its kernel, a
// Python, shell or R script; made through the projects API) or an existing
// file of the project, picked.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { client, unwrap } from "../../../api/client";
import { ErrorPanel } from "../../../components/ErrorPanel";
import { FilePicker } from "./FilePicker";

type Template = "notebook" | "python" | "shell" | "r";

export const TEMPLATES: { value: string; template: Template; kernel: string | null; suffix: string; label: string }[] = [
  { value: "notebook-python", template: "notebook", kernel: "python3", suffix: ".ipynb", label: "Notebook (Python 3)" },
  { value: "notebook-r", template: "notebook", kernel: "ir", suffix: ".ipynb", label: "Notebook (R)" },
  { value: "python", template: "python", kernel: null, suffix: ".py", label: "Python script (.py)" },
  { value: "shell", template: "shell", kernel: null, suffix: ".sh", label: "Shell script (.sh)" },
  { value: "r", template: "r", kernel: null, suffix: ".R", label: "R script (.R)" },
];

/** The pipeline file's kernel for a template's (Orchest's names). */
const stepKernel = (kernel: string | null) => (kernel === "ir" ? "ir" : "python");

interface Props {
  project: string;
  onAdd(file: string, kernel: string): void;
  onClose(): void;
}

export function AddStep({ project, onAdd, onClose }: Props) {
  const qc = useQueryClient();
  const [mode, setMode] = useState<"new" | "existing">("new");
  const [choice, setChoice] = useState(TEMPLATES[0]?.value ?? "python");
  const [name, setName] = useState("");
  const chosen = TEMPLATES.find((t) => t.value === choice) ?? (TEMPLATES[0] as (typeof TEMPLATES)[number]);
  const path = name && !name.endsWith(chosen.suffix) ? name + chosen.suffix : name;
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        client.POST("/api/projects/{project_uuid}/files", {
          params: { path: { project_uuid: project } },
          body: { path, template: chosen.template, kernel: chosen.kernel },
        }),
      ),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["projectFiles", project] });
      onAdd(path, stepKernel(chosen.kernel));
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <div className="dialog-backdrop">
      <div className="dialog card" role="dialog" aria-modal="true" aria-labelledby="add-step-title" data-testid="add-step">
        <h2 id="add-step-title">Add a step</h2>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "new"} onClick={() => setMode("new")}>
            New file from a template
          </button>
          <button type="button" role="tab" aria-selected={mode === "existing"} onClick={() => setMode("existing")}>
            Existing file
          </button>
        </div>
        {mode === "new" ? (
          <form onSubmit={submit} className="form-grid">
            <label htmlFor="new-step-template">Template</label>
            <select id="new-step-template" value={choice} onChange={(e) => setChoice(e.target.value)} data-testid="template">
              {TEMPLATES.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
            <label htmlFor="new-step-path">File</label>
            <input id="new-step-path" value={name} onChange={(e) => setName(e.target.value)} placeholder={`folder/name${chosen.suffix}`} required autoFocus data-testid="new-file-path" />
            <span />
            <span>
              <button type="submit" disabled={!name || create.isPending}>
                Create and add
              </button>{" "}
              <button type="button" onClick={onClose}>
                Cancel
              </button>
            </span>
          </form>
        ) : (
          <>
            <FilePicker project={project} onPick={(file) => onAdd(file, file.endsWith(".R") || file.endsWith(".r") ? "ir" : "python")} />
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </>
        )}
        <ErrorPanel error={create.error} title="The file was not made" />
      </div>
    </div>
  );
}
