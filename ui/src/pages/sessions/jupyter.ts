import type { SessionView } from "../../api/types";

/** A running session's JupyterLab URL, with its token. */
export function jupyterLink(s: SessionView): string | null {
  if (!s.jupyter_url) return null;
  return s.jupyter_token ? `${s.jupyter_url}?token=${encodeURIComponent(s.jupyter_token)}` : s.jupyter_url;
}
