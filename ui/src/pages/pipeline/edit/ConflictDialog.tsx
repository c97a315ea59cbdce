// The pipeline file changed on disk while edits were unsaved: reload it
// (the edits dropped) or overwrite it with the edits. Never decided silently.
interface Props {
  path: string;
  onReload(): void;
  onOverwrite(): void;
}

export function ConflictDialog({ path, onReload, onOverwrite }: Props) {
  return (
    <div className="dialog-backdrop">
      <div className="dialog card" role="alertdialog" aria-modal="true" aria-labelledby="conflict-title" aria-describedby="conflict-text" data-testid="conflict-dialog">
        <h2 id="conflict-title">
          <span aria-hidden="true">⚠</span> {path} changed on disk
        </h2>
        <p id="conflict-text">
          Someone (JupyterLab, git, another editor) changed the pipeline file while you had unsaved edits here.
          Reload it to take the file on disk and drop your edits, or overwrite it with your edits.
        </p>
        <button type="button" onClick={onReload} data-testid="conflict-reload" autoFocus>
          ↻ Reload from disk
        </button>{" "}
        <button type="button" className="danger" onClick={onOverwrite} data-testid="conflict-overwrite">
          ✎ Overwrite with my edits
        </button>
      </div>
    </div>
  );
}
