// What the pipeline's view (Dag) and its editor (EditorCanvas) set alike on
// React Flow, so that both select, zoom and fit the same way: shift, meta or
// control add to a selection, shift-drag selects a box, the steps fitted at
// first (at most at 100 %), no attribution, a dotted background and the
// zoom controls; and the nodes' measured sizes, given back to React Flow.
import { Background, Controls, type Dimensions, type FitViewOptions, type NodeChange } from "@xyflow/react";
import { useCallback, useState } from "react";

const MULTI_SELECT_KEYS = ["Shift", "Meta", "Control"];
const PRO_OPTIONS = { hideAttribution: true };

/** The same objects in every render (give a constant ``fit``): a new value
 * of any of React Flow's options is a change of its store, which each node
 * of a large pipeline looks at again. */
export function flowProps(fit: FitViewOptions) {
  return {
    multiSelectionKeyCode: MULTI_SELECT_KEYS,
    selectionKeyCode: "Shift",
    fitView: true,
    fitViewOptions: fit,
    minZoom: 0.1,
    proOptions: PRO_OPTIONS,
  };
}

/** The background and the zoom controls (children of ReactFlow). */
export function FlowChrome() {
  return (
    <>
      <Background />
      <Controls showInteractive={false} />
    </>
  );
}

export type Sizes = ReadonlyMap<string, Dimensions>;

/** The size React Flow measured of each node, by id, to be given back as
 * the node's ``measured``. A node object without it is one React Flow has
 * never seen: it hides the node (and forgets its handles) until it has
 * measured it again, a frame or more later, so a canvas whose nodes are new
 * objects after an edit would blink, and a click or a drop in that moment
 * would miss the node (the pane panned instead of a connection made). */
export function useMeasuredSizes(): [Sizes, (changes: NodeChange[]) => void] {
  const [sizes, setSizes] = useState<Sizes>(new Map());
  const take = useCallback((changes: NodeChange[]) => {
    setSizes((current) => measuredSizes(current, changes));
  }, []);
  return [sizes, take];
}

/** ``sizes`` with the measurements among ``changes`` (the same map when none
 * changes a size). Pure. */
export function measuredSizes(sizes: Sizes, changes: NodeChange[]): Sizes {
  let next: Map<string, Dimensions> | null = null;
  for (const change of changes) {
    if (change.type === "remove") {
      if (!(next ?? sizes).has(change.id)) continue;
      next ??= new Map(sizes);
      next.delete(change.id);
      continue;
    }
    if (change.type !== "dimensions" || !change.dimensions) continue;
    const known = (next ?? sizes).get(change.id);
    const { width, height } = change.dimensions;
    if (known && known.width === width && known.height === height) continue;
    next ??= new Map(sizes);
    next.set(change.id, { width, height });
  }
  return next ?? sizes;
}
