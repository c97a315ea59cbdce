// Make a pipeline in a project (an empty pipeline file), then open it in the editor.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { keys } from "../../live/cache";
import { navigate } from "../../router";

/** The file of a pipeline named `name`: its name made a file name. */
export function pipelinePath(name: string): string {
  const stem = name.trim().replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[-.]+|-+$/g, "") || "pipeline";
  return stem.endsWith(".orchest") ? stem : `${stem}.orchest`;
}

export function NewPipeline({ project }: { project: string }) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        client.POST("/api/projects/{project_uuid}/pipelines", {
          params: { path: { project_uuid: project } },
          body: { name, path: pipelinePath(name) },
        }),
      ),
    onSuccess: (doc) => {
      void qc.invalidateQueries({ queryKey: keys.pipelines(project) });
      navigate(`/projects/${project}/pipelines/${doc.uuid}/edit`);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form className="inline-form" onSubmit={submit} data-testid="new-pipeline">
      <label>
        New pipeline <input value={name} onChange={(e) => setName(e.target.value)} placeholder="name" required />
      </label>{" "}
      {name && <span className="muted">{pipelinePath(name)}</span>}
      <button type="submit" disabled={create.isPending || !name}>
        Create and edit
      </button>
      <ErrorPanel error={create.error} title="The pipeline was not made" />
    </form>
  );
}
