// An executed notebook (nbformat 4) read for display (pure): its cells, and
// for each output the one representation shown. The order puts what is safe
// to show first: images (PNG, JPEG, SVG, the last as an <img>, which runs no
// script), then Markdown (rendered from a parse, no HTML), then plain text;
// HTML only when nothing else is there, and then in a sandboxed iframe.

type Multiline = string | string[];

export interface RawOutput {
  output_type: string;
  name?: string;
  text?: Multiline;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  execution_count?: number | null;
}

export interface RawCell {
  cell_type: string;
  source: Multiline;
  execution_count?: number | null;
  outputs?: RawOutput[];
}

export type Shown =
  | { kind: "stream"; name: string; text: string }
  | { kind: "error"; ename: string; evalue: string; traceback: string }
  | { kind: "image"; src: string }
  | { kind: "markdown"; text: string }
  | { kind: "text"; text: string }
  | { kind: "html"; html: string };

export type Cell =
  | { kind: "markdown"; source: string }
  | { kind: "code"; source: string; count: number | null; outputs: Shown[] }
  | { kind: "raw"; source: string };

export class NotebookError extends Error {}

export function joinText(text: Multiline | undefined): string {
  return Array.isArray(text) ? text.join("") : (text ?? "");
}

const IMAGES: [string, (data: string) => string][] = [
  ["image/png", (d) => `data:image/png;base64,${d.replace(/\s/g, "")}`],
  ["image/jpeg", (d) => `data:image/jpeg;base64,${d.replace(/\s/g, "")}`],
  ["image/svg+xml", (d) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(d)}`],
];

/** The representation of a display output shown, or null for none we show. */
export function selectData(data: Record<string, unknown>): Shown | null {
  const text = (mime: string) => (mime in data ? joinText(data[mime] as Multiline) : null);
  for (const [mime, src] of IMAGES) {
    const d = text(mime);
    if (d) return { kind: "image", src: src(d) };
  }
  const md = text("text/markdown");
  if (md !== null) return { kind: "markdown", text: md };
  const plain = text("text/plain");
  if (plain !== null) return { kind: "text", text: plain };
  const html = text("text/html");
  if (html !== null) return { kind: "html", html };
  return null;
}

export function selectOutput(output: RawOutput): Shown | null {
  switch (output.output_type) {
    case "stream":
      return { kind: "stream", name: output.name ?? "stdout", text: joinText(output.text) };
    case "error":
      return {
        kind: "error",
        ename: output.ename ?? "Error",
        evalue: output.evalue ?? "",
        traceback: (output.traceback ?? []).join("\n"),
      };
    case "display_data":
    case "execute_result":
    case "update_display_data":
      return selectData(output.data ?? {});
    default:
      return null;
  }
}

/** The cells of a notebook's JSON text, outputs selected; a NotebookError
 * when it is no nbformat 4 notebook. */
export function readNotebook(json: string): Cell[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new NotebookError("the notebook is not JSON");
  }
  const cells = (doc as { cells?: unknown }).cells;
  if (!Array.isArray(cells)) throw new NotebookError("the notebook has no cells");
  return (cells as RawCell[]).map((c): Cell => {
    const source = joinText(c.source);
    if (c.cell_type === "markdown") return { kind: "markdown", source };
    if (c.cell_type !== "code") return { kind: "raw", source };
    const outputs = (c.outputs ?? []).map(selectOutput).filter((o): o is Shown => o !== null);
    return { kind: "code", source, count: c.execution_count ?? null, outputs: mergeStreams(outputs) };
  });
}

/** Consecutive stream outputs of one stream joined (a kernel sends a print in pieces). */
function mergeStreams(outputs: Shown[]): Shown[] {
  const merged: Shown[] = [];
  for (const o of outputs) {
    const prev = merged[merged.length - 1];
    if (o.kind === "stream" && prev?.kind === "stream" && prev.name === o.name) {
      merged[merged.length - 1] = { ...prev, text: prev.text + o.text };
    } else merged.push(o);
  }
  return merged;
}
