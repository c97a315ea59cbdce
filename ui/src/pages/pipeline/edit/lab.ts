// A step's file opened in the pipeline's running JupyterLab. Pure.
import type { SessionView } from "../../../api/types";

/** `<jupyter_url>lab/tree/<path>?token=...` (the server's root is the project), or null without a running session. */
export function labFileLink(session: SessionView | null | undefined, filePath: string): string | null {
  if (!session || session.status !== "RUNNING" || !session.jupyter_url || !filePath) return null;
  const root = session.jupyter_url.endsWith("/") ? session.jupyter_url : session.jupyter_url + "/";
  const path = filePath.split("/").map(encodeURIComponent).join("/");
  const token = session.jupyter_token ? `?token=${encodeURIComponent(session.jupyter_token)}` : "";
  return `${root}lab/tree/${path}${token}`;
}
