// The pipeline drawn as a DAG (React Flow): steps placed by the file's
// positions or laid out; click, shift-click or shift-drag a box to select.
import {
  MarkerType,
  ReactFlow,
  useReactFlow,
  type Edge,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import {
  memo,
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type MouseEvent as ReactMouseEvent,
  type RefObject,
} from "react";
import type { PipelineDefinition } from "../../api/types";
import { FlowChrome, flowProps, useMeasuredSizes } from "./flow";
import { layoutOf } from "./layout";
import { StepEdge } from "./StepEdge";
import { type StepStates, StepStatesProvider } from "./stepStates";
import { StepNode, type StepNodeType } from "./StepNode";

const NODE_TYPES = { step: StepNode };
const EDGE_TYPES = { step: StepEdge };

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
const ORIGIN = { x: 0, y: 0 };
const ARROW = { type: MarkerType.ArrowClosed };

/** The nodes and edges of the last render, by id. */
interface Built {
  nodes: Map<string, StepNodeType>;
  edges: Map<string, Edge>;
  nodeList: StepNodeType[];
  edgeList: Edge[];
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

interface Props {
  definition: PipelineDefinition;
  /** The shown run's step states, which the nodes and edges read themselves. */
  stepStates: StepStates;
  selected: ReadonlySet<string>;
  highlighted: ReadonlySet<string>;
  onSelect(selected: Set<string>): void;
  /** A step was clicked: the panel shows it. */
  onOpen(step: string): void;
}

/** Rendered again only when its props change: never for a run's progress,
 * which reaches the nodes and edges through `stepStates` alone (a live event
 * re-renders its step's node and edges, not the DAG and React Flow). */
export const Dag = memo(function Dag({ definition, stepStates, selected, highlighted, onSelect, onOpen }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const layout = useMemo(() => layoutOf(definition), [definition]);
  const [moved, setMoved] = useState<Map<string, { x: number; y: number }>>(new Map());
  const [sizes, takeSizes] = useMeasuredSizes();
  const built = useRef<Built>({ nodes: new Map(), edges: new Map(), nodeList: [], edgeList: [] });
  const steps = definition.steps ?? {};
  // A step's node and edges (and the lists) are the same objects as in the
  // last render unless what they show changed: a live event changes no node
  // and no edge (both read the steps' states themselves), so React Flow's
  // store is untouched and re-renders nothing of a large pipeline.
  let nodes: StepNodeType[] = [];
  let edges: Edge[] = [];
  const next: Built = { nodes: new Map(), edges: new Map(), nodeList: [], edgeList: [] };
  for (const [uuid, step] of Object.entries(steps)) {
    const position = moved.get(uuid) ?? layout.get(uuid) ?? ORIGIN;
    const isSelected = selected.has(uuid);
    const isHighlighted = highlighted.has(uuid);
    const title = step.title || step.file_path;
    const last = built.current.nodes.get(uuid);
    const measured = sizes.get(uuid);
    // The step's state is not in the node: the node reads it (stepStates.tsx).
    const node =
      last &&
      last.position === position &&
      last.selected === isSelected &&
      last.data.highlighted === isHighlighted &&
      last.data.title === title &&
      last.data.file === step.file_path &&
      last.measured === measured
        ? last
        : {
            id: uuid,
            type: "step" as const,
            position,
            selected: isSelected,
            measured,
            data: { title, file: step.file_path, highlighted: isHighlighted },
          };
    next.nodes.set(uuid, node);
    nodes.push(node);
    for (const parent of step.incoming_connections ?? []) {
      if (!(parent in steps)) continue;
      const id = `${parent}->${uuid}`;
      const edge = built.current.edges.get(id) ?? { id, type: "step", source: parent, target: uuid, markerEnd: ARROW };
      next.edges.set(id, edge);
      edges.push(edge);
    }
  }
  if (sameItems(nodes, built.current.nodeList)) nodes = built.current.nodeList;
  if (sameItems(edges, built.current.edgeList)) edges = built.current.edgeList;
  next.nodeList = nodes;
  next.edgeList = edges;
  useEffect(() => {
    built.current = next;
  });
  // React Flow's callbacks are the same functions in every render (they
  // read what is current through a ref): a new one is a change of React
  // Flow's store, which makes each of 500 nodes look at it again.
  const current = useRef({ moved, selected, onSelect, onOpen });
  useLayoutEffect(() => {
    current.current = { moved, selected, onSelect, onOpen };
  });
  const onNodesChange = useCallback((changes: NodeChange<StepNodeType>[]) => {
    takeSizes(changes);
    const { moved, selected, onSelect } = current.current;
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
  }, [takeSizes]);
  const onNodeClick = useCallback((event: ReactMouseEvent, node: StepNodeType) => {
    const { onSelect, onOpen } = current.current;
    // A plain click selects that step alone (React Flow keeps a
    // multi-selection when one of its steps is clicked).
    if (!(event.shiftKey || event.metaKey || event.ctrlKey)) onSelect(new Set([node.id]));
    onOpen(node.id);
  }, []);
  return (
    <StepStatesProvider value={stepStates}>
      <div className="dag dag-run" data-testid="dag" ref={box}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={NODE_TYPES}
          {...flowProps(FIT)}
          edgeTypes={EDGE_TYPES}
          onNodesChange={onNodesChange}
          onNodeClick={onNodeClick}
          nodesConnectable={false}
          onlyRenderVisibleElements
        >
          <FitOnResize box={box} />
          <FlowChrome />
        </ReactFlow>
      </div>
    </StepStatesProvider>
  );
});
