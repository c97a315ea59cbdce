// What the pipeline's view (Dag) and its editor (EditorCanvas) set alike on
// React Flow, so that both select, zoom and fit the same way: shift, meta or
// control add to a selection, shift-drag selects a box, the steps fitted at
// first (at most at 100 %), no attribution, a dotted background and the
// zoom controls.
import { Background, Controls, type FitViewOptions } from "@xyflow/react";

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
