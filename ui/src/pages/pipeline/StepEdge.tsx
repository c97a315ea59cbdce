// An edge of the DAG: a parent's output flowing into a step that runs now
// is drawn moving. It reads both steps' states from the small store the
// nodes read (stepStates.tsx), so a live event re-renders the edges of its
// step alone and the DAG's edge list never changes with a run's progress.
import { BaseEdge, getBezierPath, type EdgeProps } from "@xyflow/react";
import { useStepState } from "./stepStates";

export function StepEdge({
  id,
  source,
  target,
  sourceX,
  sourceY,
  sourcePosition,
  targetX,
  targetY,
  targetPosition,
  markerEnd,
  style,
}: EdgeProps) {
  const parent = useStepState(source);
  const child = useStepState(target);
  const flowing = parent?.status === "SUCCESS" && child?.status === "STARTED";
  const [path] = getBezierPath({ sourceX, sourceY, sourcePosition, targetX, targetY, targetPosition });
  return (
    <BaseEdge
      id={id}
      path={path}
      markerEnd={markerEnd}
      style={style}
      className={flowing ? "step-edge-flowing" : undefined}
      data-flowing={flowing ? "true" : undefined}
    />
  );
}
