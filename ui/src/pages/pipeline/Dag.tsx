// The pipeline drawn as a DAG (React Flow): steps placed by the file's
// positions or laid out; click, shift-click or shift-drag a box to select.
import {
  Background,
  Controls,
  MarkerType,
  ReactFlow,
  useReactFlow,
  type Edge,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useRef, useState, type RefObject } from "react";
import type { PipelineDefinition, StepView } from "../../api/types";
import { layoutOf } from "./layout";
import { StepNode, type StepNodeType } from "./StepNode";

const NODE_TYPES = { step: StepNode };

/** Fits the whole pipeline in view whenever the DAG's box changes size
 * (the step panel opened or closed, the window resized). */
function FitOnResize({ box }: { box: RefObject<HTMLDivElement | null> }) {
  const flow = useReactFlow();
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => void flow.fitView(FIT));
    });
    observer.observe(element);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
    };
  }, [flow, box]);
  return null;
}

const FIT = { maxZoom: 1, padding: 0.1 };

interface Props {
  definition: PipelineDefinition;
  states: ReadonlyMap<string, StepView>;
  selected: ReadonlySet<string>;
  highlighted: ReadonlySet<string>;
  onSelect(selected: Set<string>): void;
  /** A step was clicked: the panel shows it. */
  onOpen(step: string): void;
}

export function Dag({ definition, states, selected, highlighted, onSelect, onOpen }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const layout = useMemo(() => layoutOf(definition), [definition]);
  const [moved, setMoved] = useState<Map<string, { x: number; y: number }>>(new Map());
  const steps = definition.steps ?? {};
  const nodes: StepNodeType[] = Object.entries(steps).map(([uuid, step]) => ({
    id: uuid,
    type: "step",
    position: moved.get(uuid) ?? layout.get(uuid) ?? { x: 0, y: 0 },
    selected: selected.has(uuid),
    data: {
      title: step.title || step.file_path,
      file: step.file_path,
      state: states.get(uuid) ?? null,
      highlighted: highlighted.has(uuid),
    },
  }));
  const edges: Edge[] = Object.entries(steps).flatMap(([uuid, step]) =>
    (step.incoming_connections ?? [])
      .filter((p) => p in steps)
      .map((p) => ({
        id: `${p}->${uuid}`,
        source: p,
        target: uuid,
        markerEnd: { type: MarkerType.ArrowClosed },
        animated: states.get(p)?.status === "SUCCESS" && states.get(uuid)?.status === "STARTED",
      })),
  );
  const onNodesChange = (changes: NodeChange<StepNodeType>[]) => {
    let next: Set<string> | null = null;
    const positions = new Map(moved);
    for (const change of changes) {
      if (change.type === "select") {
        next ??= new Set(selected);
        if (change.selected) next.add(change.id);
        else next.delete(change.id);
      } else if (change.type === "position" && change.position) {
        positions.set(change.id, change.position);
      }
    }
    if (positions.size !== moved.size || changes.some((c) => c.type === "position")) setMoved(positions);
    if (next) onSelect(next);
  };
  return (
    <div className="dag" data-testid="dag" ref={box}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onNodeClick={(event, node) => {
          // A plain click selects that step alone (React Flow keeps a
          // multi-selection when one of its steps is clicked).
          if (!(event.shiftKey || event.metaKey || event.ctrlKey)) onSelect(new Set([node.id]));
          onOpen(node.id);
        }}
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        selectionKeyCode="Shift"
        nodesConnectable={false}
        fitView
        fitViewOptions={FIT}
        minZoom={0.1}
        proOptions={{ hideAttribution: true }}
      >
        <FitOnResize box={box} />
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
