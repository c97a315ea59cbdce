// Make a project: empty, or from the quickstart template.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { keys } from "../../live/cache";

export function NewProject() {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [template, setTemplate] = useState<"quickstart" | "">("quickstart");
  const create = useMutation({
    mutationFn: () =>
      unwrap(client.POST("/api/projects", { body: { name, template: template || null } })),
    onSuccess: () => {
      setName("");
      void qc.invalidateQueries({ queryKey: keys.projects });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <label>
        New project{" "}
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="name" required />
      </label>{" "}
      <label>
        from{" "}
        <select value={template} onChange={(e) => setTemplate(e.target.value === "quickstart" ? "quickstart" : "")}>
          <option value="quickstart">the quickstart template</option>
          <option value="">nothing (empty)</option>
        </select>
      </label>{" "}
      <button type="submit" disabled={create.isPending || !name}>
        Create
      </button>
      <ErrorPanel error={create.error} title="The project was not made" />
    </form>
  );
}
