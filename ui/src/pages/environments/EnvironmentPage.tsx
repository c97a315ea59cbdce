// One environment: its definition, its setup script edited and saved (a new
// build starts), its builds with their states live, the selected build's
// log followed live; rebuild, cancel a going build, delete (refused while a
// run, job or session uses it, the refusal shown).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { client, unwrap } from "../../api/client";
import { useBuilds, useEnvironment } from "../../api/queries";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorPanel } from "../../components/ErrorPanel";
import { StatusBadge } from "../../components/Status";
import { keys } from "../../live/cache";
import { ENDED } from "../../live/order";
import { Link, navigate } from "../../router";
import { BuildLog } from "./BuildLog";
import { Builds } from "./Builds";
import "./environments.css";

interface Props {
  project: string;
  env: string;
  build: string | null;
}

export function EnvironmentPage({ project, env, build }: Props) {
  const qc = useQueryClient();
  const info = useEnvironment(project, env);
  const builds = useBuilds(project, env);
  const [script, setScript] = useState<string | null>(null);
  const here = `/projects/${project}/environments/${env}`;
  const path = { project_uuid: project, environment_uuid: env };
  useEffect(() => setScript(null), [env]);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.environment(project, env) });
    void qc.invalidateQueries({ queryKey: keys.builds(project, env) });
    void qc.invalidateQueries({ queryKey: keys.environments(project) });
  };
  const select = (uuid: string | null | undefined) => navigate(uuid ? `${here}?build=${uuid}` : here, true);
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        client.PATCH("/api/projects/{project_uuid}/environments/{environment_uuid}", {
          params: { path },
          body: { setup_script: script ?? "" },
        }),
      ),
    onSuccess: (changed) => {
      setScript(null);
      refresh();
      select(changed.latest_build?.uuid);
    },
  });
  const rebuild = useMutation({
    mutationFn: () => unwrap(client.POST("/api/projects/{project_uuid}/environments/{environment_uuid}/builds", { params: { path } })),
    onSuccess: (made) => {
      refresh();
      select(made.uuid);
    },
  });
  const cancel = useMutation({
    mutationFn: (uuid: string) =>
      unwrap(
        client.DELETE("/api/projects/{project_uuid}/environments/{environment_uuid}/builds/{build_uuid}", {
          params: { path: { ...path, build_uuid: uuid } },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: () => unwrap(client.DELETE("/api/projects/{project_uuid}/environments/{environment_uuid}", { params: { path } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: keys.environments(project) });
      navigate(`/projects/${project}/environments`);
    },
  });

  const list = builds.data?.builds ?? [];
  const shown = list.find((b) => b.uuid === build) ?? list[0] ?? null;
  const saved = info.data?.setup_script ?? "";
  const edited = script ?? saved;
  return (
    <main className="page">
      <p className="muted">
        <Link to={`/projects/${project}`}>Project</Link> / <Link to={`/projects/${project}/environments`}>Environments</Link>
      </p>
      <ErrorPanel error={info.error} title="The environment could not be read" />
      <h1>
        {info.data?.name ?? "Environment"} {info.data?.latest_build && <StatusBadge status={info.data.latest_build.status} />}
      </h1>
      {info.data && (
        <p className="muted" data-testid="environment-facts">
          {info.data.language} on <code>{info.data.base_image}</code>
          {Object.keys(info.data.env_variables ?? {}).length > 0 &&
            ` · variables: ${Object.keys(info.data.env_variables ?? {}).join(", ")}`}
        </p>
      )}
      <section className="card">
        <h2>Setup script</h2>
        <ErrorPanel error={save.error} title="The script was not saved" />
        <textarea
          className="code-input"
          data-testid="setup-script"
          aria-label="Setup script"
          rows={8}
          spellCheck={false}
          value={edited}
          onChange={(e) => setScript(e.target.value)}
        />
        <div className="env-actions">
          <button type="button" data-testid="save-script" disabled={!info.data || save.isPending || edited === saved} onClick={() => save.mutate()}>
            Save and build
          </button>{" "}
          <button type="button" data-testid="rebuild" disabled={rebuild.isPending} onClick={() => rebuild.mutate()}>
            Rebuild
          </button>{" "}
          <ConfirmButton question="Delete this environment's files?" confirm="Delete" testId="delete-environment" onConfirm={() => remove.mutate()}>
            Delete
          </ConfirmButton>
        </div>
        <ErrorPanel error={rebuild.error} title="No build was started" />
        <ErrorPanel error={remove.error} title="The environment was not deleted" />
      </section>
      <section className="card">
        <h2>Builds</h2>
        <ErrorPanel error={builds.error ?? cancel.error} title="The builds" />
        <Builds builds={list} selected={shown?.uuid ?? null} onSelect={select} onCancel={(b) => cancel.mutate(b)} cancelling={cancel.isPending} />
      </section>
      {shown && (
        <section className="card">
          <h2>
            Log of build <code>{shown.uuid.slice(0, 8)}</code> <StatusBadge status={shown.status} />
          </h2>
          <BuildLog path={`/api/projects/${project}/environments/${env}/builds/${shown.uuid}/logs`} ended={ENDED.has(shown.status)} />
        </section>
      )}
    </main>
  );
}
