// Where each step is drawn: the positions the pipeline file gives, else a
// left-to-right layered layout (dagre).
import dagre from "@dagrejs/dagre";
import type { PipelineDefinition } from "../../api/types";

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 76;

export type Positions = Map<string, { x: number; y: number }>;

export function filePositions(definition: PipelineDefinition): Positions | null {
  const positions: Positions = new Map();
  for (const [uuid, step] of Object.entries(definition.steps ?? {})) {
    const p = step.meta_data?.position;
    if (!p || p.length < 2) return null;
    positions.set(uuid, { x: Number(p[0]), y: Number(p[1]) });
  }
  return positions;
}

export function autoLayout(definition: PipelineDefinition): Positions {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 80 });
  graph.setDefaultEdgeLabel(() => ({}));
  const steps = definition.steps ?? {};
  for (const uuid of Object.keys(steps)) graph.setNode(uuid, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const [uuid, step] of Object.entries(steps)) {
    for (const parent of step.incoming_connections ?? []) {
      if (parent in steps) graph.setEdge(parent, uuid);
    }
  }
  dagre.layout(graph);
  const positions: Positions = new Map();
  for (const uuid of Object.keys(steps)) {
    const node = graph.node(uuid);
    positions.set(uuid, { x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 });
  }
  return positions;
}

export function layoutOf(definition: PipelineDefinition): Positions {
  return filePositions(definition) ?? autoLayout(definition);
}
