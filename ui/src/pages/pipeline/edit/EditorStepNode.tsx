// One step on the editor's canvas: title, file, kernel, and the server's
// problems of it (icon, text, dashed red border). Drag from its right
// handle to another step's left one to connect them.
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";

export type EditorStepData = {
  title: string;
  file: string;
  kernel: string;
  problems: string[];
  /** A few words saying what is wrong (the messages in full on hover). */
  short: string;
};
export type EditorStepType = Node<EditorStepData, "editorStep">;

export function EditorStepNode({ id, data, selected }: NodeProps<EditorStepType>) {
  const bad = data.problems.length > 0;
  const classes = ["step-node", "editor-step", bad ? "has-problem" : "", selected ? "selected" : ""];
  return (
    <div className={classes.join(" ")} data-step={id} data-problem={bad ? "true" : undefined} title={data.problems.join("\n") || undefined}>
      <Handle type="target" position={Position.Left} className="editor-handle" aria-label="Connect into this step" />
      <div className="step-title">{data.title || <span className="muted">untitled</span>}</div>
      <div className="step-file muted">{data.file || "no file"}</div>
      {data.kernel && data.file.endsWith(".ipynb") && <div className="step-kernel muted">{data.kernel}</div>}
      {bad && (
        <div className="step-problem" role="note">
          <span aria-hidden="true">✖</span> {data.short}
        </div>
      )}
      <Handle type="source" position={Position.Right} className="editor-handle" aria-label="Connect from this step" />
    </div>
  );
}
