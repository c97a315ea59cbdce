// The editor's canvas (React Flow): drag steps (several at once when
// selected), drag from a step's right handle to another step to connect,
// Delete or Backspace removes what is selected. Every change is an edit of
// the definition; the canvas holds nothing but a drag in progress.
import {
  MarkerType,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useState } from "react";
import { FlowChrome, flowProps, useMeasuredSizes } from "../flow";
import { layoutOf } from "../layout";
import { EditorStepNode, type EditorStepType } from "./EditorStepNode";
import { connect, disconnect, moveSteps, removeSteps, type Definition, type Point } from "./model";
import { edgeId, type Marks } from "./problems";

const NODE_TYPES = { editorStep: EditorStepNode };
const FIT = { maxZoom: 1, padding: 0.15 };
const ARROW = { type: MarkerType.ArrowClosed };

export interface Selection {
  steps: Set<string>;
  edges: Set<string>;
}

interface Props {
  definition: Definition;
  marks: Marks;
  selection: Selection;
  onSelect(selection: Selection): void;
  onEdit(next: Definition): void;
  /** Changes when the whole pipeline should be fitted in view again. */
  fitToken: string;
}

function FitWhen({ token }: { token: string }) {
  const flow = useReactFlow();
  useEffect(() => {
    const frame = requestAnimationFrame(() => void flow.fitView(FIT));
    return () => cancelAnimationFrame(frame);
  }, [flow, token]);
  return null;
}

export function EditorCanvas({ definition, marks, selection, onSelect, onEdit, fitToken }: Props) {
  const layout = useMemo(() => layoutOf(definition), [definition]);
  const [dragging, setDragging] = useState<Map<string, Point>>(new Map());
  const [sizes, takeSizes] = useMeasuredSizes();
  const steps = definition.steps;
  // The same objects until a step, the selection, a problem or a size
  // changes: a render for anything else (the save state, the runs, the
  // session) leaves React Flow's nodes as they are; and those it gets anew
  // carry their measured size, so none is hidden to be measured again.
  const nodes = useMemo(
    (): EditorStepType[] =>
      Object.entries(steps ?? {}).map(([uuid, step]) => ({
        id: uuid,
        type: "editorStep",
        position: dragging.get(uuid) ?? layout.get(uuid) ?? { x: 0, y: 0 },
        selected: selection.steps.has(uuid),
        measured: sizes.get(uuid),
        data: {
          title: step.title ?? "",
          file: step.file_path,
          kernel: step.kernel?.display_name ?? step.kernel?.name ?? "",
          problems: marks.steps.get(uuid) ?? [],
          short: marks.short.get(uuid) ?? "",
        },
      })),
    [steps, layout, dragging, selection.steps, sizes, marks],
  );
  const edges = useMemo(
    (): Edge[] =>
      Object.entries(steps ?? {}).flatMap(([uuid, step]) =>
        (step.incoming_connections ?? []).map((from) => {
          const id = edgeId(from, uuid);
          const problems = marks.edges.get(id);
          return {
            id,
            source: from,
            target: uuid,
            selected: selection.edges.has(id),
            markerEnd: ARROW,
            className: problems ? "edge-problem" : undefined,
            label: problems ? "✖ " + (marks.short.get(id) ?? "") : undefined,
            ariaLabel: problems ? problems.join("; ") : undefined,
            domAttributes: problems ? { "data-problem": "true" } : undefined,
          } as Edge;
        }),
      ),
    [steps, selection.edges, marks],
  );

  const onNodesChange = (changes: NodeChange<EditorStepType>[]) => {
    takeSizes(changes);
    let steps: Set<string> | null = null;
    const moving = new Map(dragging);
    for (const change of changes) {
      if (change.type === "select") {
        steps ??= new Set(selection.steps);
        if (change.selected) steps.add(change.id);
        else steps.delete(change.id);
      } else if (change.type === "position" && change.position && change.dragging) {
        moving.set(change.id, change.position);
      }
    }
    if (changes.some((c) => c.type === "position" && c.dragging)) setDragging(moving);
    if (steps) onSelect({ steps, edges: selection.edges });
  };
  const onEdgesChange = (changes: EdgeChange[]) => {
    let edges: Set<string> | null = null;
    for (const change of changes) {
      if (change.type !== "select") continue;
      edges ??= new Set(selection.edges);
      if (change.selected) edges.add(change.id);
      else edges.delete(change.id);
    }
    if (edges) onSelect({ steps: selection.steps, edges });
  };
  const onDragStop = (moved: EditorStepType[]) => {
    // Every step gets a position once one is placed by hand (else the
    // others would be laid out again around it).
    const positions = new Map(layout);
    for (const node of moved) positions.set(node.id, node.position);
    setDragging(new Map());
    onEdit(moveSteps(definition, positions));
  };
  const onConnect = (c: Connection) => onEdit(connect(definition, c.source, c.target));
  return (
    <div className="dag editor-canvas" data-testid="editor-canvas">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        {...flowProps(FIT)}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onNodeClick={(event, node) => {
          window.getSelection()?.removeAllRanges(); // a shift-click would select the page's text
          if (!(event.shiftKey || event.metaKey || event.ctrlKey)) onSelect({ steps: new Set([node.id]), edges: new Set() });
        }}
        onNodeDragStop={(_event, _node, moved) => onDragStop(moved)}
        onConnect={onConnect}
        isValidConnection={(c) => c.source !== c.target}
        onDelete={({ nodes: gone, edges: cut }) => onEdit(deleteFrom(definition, gone.map((n) => n.id), cut))}
        deleteKeyCode={["Delete", "Backspace"]}
      >
        <FitWhen token={fitToken} />
        <FlowChrome />
      </ReactFlow>
    </div>
  );
}

/** The definition without these steps and connections (one edit). */
export function deleteFrom(d: Definition, steps: string[], edges: { source: string; target: string }[]): Definition {
  let next = removeSteps(d, steps);
  for (const e of edges) next = disconnect(next, e.source, e.target);
  return next;
}
