// A notebook step's executed notebook (the attempt's executed.ipynb
// artifact): rendered, and offered as a download.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo } from "react";
import { apiFetch } from "../../api/client";
import { ErrorPanel } from "../../components/ErrorPanel";
import { readNotebook } from "../../components/notebook/notebook";
import { NotebookView } from "../../components/notebook/NotebookView";

export const EXECUTED = "executed.ipynb";

interface Props {
  run: string;
  step: string;
  attempt: number;
  title: string;
}

export function StepNotebook({ run, step, attempt, title }: Props) {
  const artifact = useQuery({
    queryKey: ["artifact", run, step, attempt, EXECUTED],
    staleTime: Infinity, // an ended attempt's artifact never changes
    queryFn: async () => {
      const path = `/api/runs/${run}/steps/${encodeURIComponent(step)}/artifacts/${EXECUTED}?attempt=${attempt}`;
      return (await apiFetch(path)).text();
    },
  });
  const text = artifact.data;
  const cells = useMemo(() => {
    if (text === undefined) return { cells: null, error: null };
    try {
      return { cells: readNotebook(text), error: null };
    } catch (e) {
      return { cells: null, error: e };
    }
  }, [text]);
  const href = useMemo(() => (text === undefined ? null : URL.createObjectURL(new Blob([text], { type: "application/x-ipynb+json" }))), [text]);
  useEffect(() => () => void (href && URL.revokeObjectURL(href)), [href]);
  const fileName = `${title.replace(/[^\w.-]+/g, "_")}-attempt${attempt}-${EXECUTED}`;
  return (
    <section className="step-notebook" aria-label="Executed notebook">
      <h3>
        Executed notebook <span className="muted">(attempt {attempt})</span>{" "}
        {href && (
          <a href={href} download={fileName} data-testid="notebook-download" className="download">
            ⤓ Download
          </a>
        )}
      </h3>
      <ErrorPanel error={artifact.error ?? cells.error} title="The notebook could not be read" />
      {!text && !artifact.error && <p className="muted">Reading the notebook…</p>}
      {cells.cells && <NotebookView cells={cells.cells} />}
    </section>
  );
}
