// Create an environment: name, language, base image, setup script, env
// variables; its first build starts at once. The API's problems are shown
// at the fields they name.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, client, unwrap } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { keys } from "../../live/cache";
import { navigate } from "../../router";
import { EnvEditor } from "../jobs/EnvEditor";
import { envProblems } from "../jobs/form";
import { FieldProblems } from "./FieldProblems";
import { DEFAULT_BASE_IMAGE, EMPTY_INPUT, LANGUAGES, environmentBody, problemsByField, type EnvironmentInput, type Language } from "./form";

export function NewEnvironment({ project }: { project: string }) {
  const qc = useQueryClient();
  const [input, setInput] = useState<EnvironmentInput>(EMPTY_INPUT);
  const set = (changes: Partial<EnvironmentInput>) => setInput((i) => ({ ...i, ...changes }));
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        client.POST("/api/projects/{project_uuid}/environments", {
          params: { path: { project_uuid: project } },
          body: environmentBody(input),
        }),
      ),
    onSuccess: (made) => {
      void qc.invalidateQueries({ queryKey: keys.environments(project) });
      navigate(`/projects/${project}/environments/${made.uuid}`);
    },
  });
  const problems = create.error instanceof ApiError ? problemsByField(create.error.errors) : {};
  const envOk = envProblems(input.env).every((p) => p === null);
  return (
    <form
      className="env-form"
      data-testid="new-environment"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <h2>New environment</h2>
      <ErrorPanel error={create.error} title="The environment was not created" />
      <label>
        Name <input data-testid="env-name" value={input.name} onChange={(e) => set({ name: e.target.value })} />
      </label>
      <FieldProblems problems={problems.name} id="name" />
      <label>
        Language{" "}
        <select data-testid="env-language" value={input.language} onChange={(e) => set({ language: e.target.value as Language })}>
          {LANGUAGES.map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
      </label>
      <FieldProblems problems={problems.language} id="language" />
      <label>
        Base image{" "}
        <input
          data-testid="env-base-image"
          value={input.baseImage}
          placeholder={DEFAULT_BASE_IMAGE}
          onChange={(e) => set({ baseImage: e.target.value })}
        />
      </label>
      <FieldProblems problems={problems.base_image} id="base_image" />
      <label>
        Setup script
        <textarea
          className="code-input"
          data-testid="env-script"
          rows={8}
          spellCheck={false}
          value={input.setupScript}
          onChange={(e) => set({ setupScript: e.target.value })}
        />
      </label>
      <FieldProblems problems={problems.setup_script} id="setup_script" />
      <fieldset>
        <legend>Env variables</legend>
        <EnvEditor rows={input.env} onRows={(env) => set({ env })} />
      </fieldset>
      <FieldProblems problems={problems.env} id="env" />
      <FieldProblems problems={problems.other} id="other" />
      <button type="submit" data-testid="create-environment" disabled={create.isPending || !envOk}>
        Create and build
      </button>
    </form>
  );
}
