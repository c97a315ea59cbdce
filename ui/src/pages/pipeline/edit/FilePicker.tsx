// A project's files, folder by folder (the projects API), to pick a step's
// file: folders open, files a step can run are picked with a click.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { client, unwrap } from "../../../api/client";
import { ErrorPanel } from "../../../components/ErrorPanel";

/** The step files Orchest runs, by extension (as the scheduler checks them). */
export const STEP_FILE = /\.(ipynb|py|r|sh|jl|js)$/i;

export const filesKey = (project: string, folder: string) => ["projectFiles", project, folder] as const;

export function FilePicker({ project, onPick }: { project: string; onPick(path: string): void }) {
  const [folder, setFolder] = useState("");
  const listing = useQuery({
    queryKey: filesKey(project, folder),
    staleTime: 0,
    queryFn: () =>
      unwrap(client.GET("/api/projects/{project_uuid}/files", { params: { path: { project_uuid: project }, query: { path: folder } } })),
  });
  const up = folder.includes("/") ? folder.slice(0, folder.lastIndexOf("/")) : "";
  const entries = (listing.data?.entries ?? []).filter((e) => e.kind === "folder" || (e.kind === "file" && STEP_FILE.test(e.name)));
  return (
    <div className="file-picker" data-testid="file-picker">
      <div className="muted">
        Folder: <code>/{folder}</code>
      </div>
      <ErrorPanel error={listing.error} title="The files could not be read" />
      <ul>
        {folder && (
          <li>
            <button type="button" className="link" onClick={() => setFolder(up)}>
              <span aria-hidden="true">↑</span> ..
            </button>
          </li>
        )}
        {entries.map((e) => (
          <li key={e.path}>
            {e.kind === "folder" ? (
              <button type="button" className="link" onClick={() => setFolder(e.path)}>
                <span aria-hidden="true">📁</span> {e.name}/
              </button>
            ) : (
              <button type="button" className="link" data-file={e.path} onClick={() => onPick(e.path)}>
                <span aria-hidden="true">📄</span> {e.name}
              </button>
            )}
          </li>
        ))}
        {listing.data && entries.length === 0 && <li className="muted">No step file here.</li>}
      </ul>
    </div>
  );
}
