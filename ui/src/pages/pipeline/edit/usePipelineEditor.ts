// The editor's state: the definition being edited (with undo and redo), the
// version of the file it starts from, and saving: every change written
// through PUT with If-Match (debounced, as a draft: an invalid pipeline is
// kept, its problems shown), a refused write (412) or a change on disk
// while edits are unsaved turned into a conflict to resolve.
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { client, toApiError } from "../../../api/client";
import { usePipeline } from "../../../api/queries";
import type { PipelineDocument } from "../../../api/types";
import { keys } from "../../../live/cache";
import { historyReducer, startHistory, type History, type HistoryAction } from "./history";
import type { Definition } from "./model";
import { onDiskRead, saveStateOf } from "./sync";

export const SAVE_DELAY_MS = 500;

type Doc = Omit<PipelineDocument, "definition"> & { definition: Definition };
interface Base {
  etag: string;
  definition: Definition;
}

const reducer = (h: History<Definition>, a: HistoryAction<Definition>) => historyReducer(h, a);

export function usePipelineEditor(project: string, pipeline: string) {
  const qc = useQueryClient();
  const doc = usePipeline(project, pipeline);
  const [history, dispatch] = useReducer(reducer, startHistory<Definition>({ uuid: pipeline }));
  const [base, setBase] = useState<Base | null>(null);
  const [saving, setSaving] = useState(false);
  const [conflict, setConflict] = useState<Doc | null>(null);
  const [failure, setFailure] = useState<{ error: unknown; definition: Definition } | null>(null);
  const present = history.present;
  const dirty = base !== null && present !== base.definition;
  const latest = useRef({ present, base });
  latest.current = { present, base };

  const take = useCallback((d: Doc) => {
    dispatch({ type: "reset", present: d.definition });
    setBase({ etag: d.etag, definition: d.definition });
    setConflict(null);
    setFailure(null);
  }, []);

  // Every read of the file: the first, one after a ProjectChanged event, one after a 412.
  useEffect(() => {
    const read = doc.data;
    if (!read) return;
    if (base === null) return take(read);
    const decision = onDiskRead({ diskEtag: read.etag, baseEtag: base.etag, dirty, saving });
    if (decision === "reload") take(read);
    else if (decision === "conflict") setConflict((c) => (c?.etag === read.etag ? c : read));
  }, [doc.data, base, dirty, saving, take]);

  const save = useCallback(
    async (definition: Definition, ifMatch: string) => {
      setSaving(true);
      setFailure(null);
      const params = { path: { project_uuid: project, pipeline_uuid: pipeline } };
      try {
        const { data, error, response } = await client.PUT("/api/projects/{project_uuid}/pipelines/{pipeline_uuid}", {
          params: { ...params, query: { draft: true }, header: { "If-Match": `"${ifMatch}"` } },
          body: definition,
        });
        if (response.status === 412) {
          // The newer version read (and, the edits being unsaved, offered as a conflict).
          await qc.refetchQueries({ queryKey: keys.pipeline(project, pipeline), exact: true });
          return;
        }
        if (!response.ok || !data) throw toApiError(response, error);
        // A read in flight holds an older version: drop it, keep what was written.
        await qc.cancelQueries({ queryKey: keys.pipeline(project, pipeline) });
        qc.setQueryData(keys.pipeline(project, pipeline), { ...data, definition: data.definition as Definition });
        setBase({ etag: data.etag, definition });
        setConflict(null);
      } catch (error) {
        setFailure({ error, definition });
      } finally {
        setSaving(false);
      }
    },
    [project, pipeline, qc],
  );

  // Saved a moment after the last change (not again after it failed, until the next change).
  useEffect(() => {
    if (!dirty || saving || conflict || !base || failure?.definition === present) return;
    const timer = setTimeout(() => void save(present, base.etag), SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [present, dirty, saving, conflict, base, failure, save]);

  // Opened from a cached read: read the file again (a newer version is taken, nothing being edited yet).
  useEffect(() => {
    void qc.refetchQueries({ queryKey: keys.pipeline(project, pipeline), exact: true });
  }, [qc, project, pipeline]);

  // Leaving the editor for another view before the delay is up: written now.
  const pending = useRef({ dirty, saving, conflict, save });
  pending.current = { dirty, saving, conflict, save };
  useEffect(
    () => () => {
      const { dirty: d, saving: s, conflict: c, save: write } = pending.current;
      const { present: p, base: b } = latest.current;
      if (d && !s && !c && b) void write(p, b.etag);
    },
    [],
  );

  // Leaving the page (closing the tab, reloading) with edits not yet written asks first.
  const unsaved = dirty || saving || conflict !== null;
  useEffect(() => {
    if (!unsaved) return;
    const ask = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", ask);
    return () => window.removeEventListener("beforeunload", ask);
  }, [unsaved]);

  const edit = useCallback((next: Definition, group?: string) => dispatch({ type: "edit", next, group }), []);
  return {
    doc,
    history,
    definition: present,
    loaded: base !== null,
    dirty,
    conflict,
    failure: failure?.error ?? null,
    state: saveStateOf({ dirty, saving, conflict: conflict !== null, failed: failure !== null }),
    edit,
    undo: () => dispatch({ type: "undo" }),
    redo: () => dispatch({ type: "redo" }),
    /** Now, without waiting for the delay. */
    saveNow: () => {
      const { present: p, base: b } = latest.current;
      if (b && p !== b.definition && !saving && !conflict) void save(p, b.etag);
    },
    /** The conflict resolved by taking the file on disk (the edits dropped). */
    reload: () => conflict && take(conflict),
    /** The conflict resolved by writing the edits over the file on disk. */
    overwrite: () => {
      if (!conflict) return;
      setConflict(null);
      void save(latest.current.present, conflict.etag);
    },
  };
}

export type PipelineEditor = ReturnType<typeof usePipelineEditor>;
