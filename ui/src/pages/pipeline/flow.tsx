// What the pipeline's view (Dag) and its editor (EditorCanvas) set alike on
// React Flow, so that both select, zoom and fit the same way: shift, meta or
// control add to a selection, shift-drag selects a box, the steps fitted at
// first (at most at 100 %), no attribution, a dotted background and the
// zoom controls.
import { Background, Controls, type FitViewOptions } from "@xyflow/react";

export function flowProps(fit: FitViewOptions) {
  return {
    multiSelectionKeyCode: ["Shift", "Meta", "Control"],
    selectionKeyCode: "Shift",
    fitView: true,
    fitViewOptions: fit,
    minZoom: 0.1,
    proOptions: { hideAttribution: true },
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
