// One step on the DAG: its title, file and state (colour, icon, text), a
// ticking duration while it runs, the attempt when past the first, the
// failure reason on hover.
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { StatusBadge, toneOf } from "../../components/Status";
import { durationOf, useNow } from "../../components/time";
import { useStepState } from "./stepStates";

export type StepNodeData = {
  title: string;
  file: string;
  highlighted: boolean;
};
export type StepNodeType = Node<StepNodeData, "step">;

export function StepNode({ id, data, selected }: NodeProps<StepNodeType>) {
  const state = useStepState(id); // null: not part of the shown run
  const now = useNow(state?.status === "STARTED");
  const tone = state ? toneOf(state.status) : "none";
  const reason = state?.error ?? (state?.exit_code ? `exit code ${state.exit_code}` : undefined);
  const classes = ["step-node", `tone-${tone}`, selected ? "selected" : "", data.highlighted ? "highlighted" : ""];
  return (
    <div className={classes.join(" ")} data-step={id} data-status={state?.status ?? "NONE"} title={reason}>
      <Handle type="target" position={Position.Left} />
      <div className="step-title">{data.title}</div>
      <div className="step-file muted">{data.file}</div>
      <div className="step-state">
        {state ? <StatusBadge status={state.status} title={reason} /> : <span className="muted">not in this run</span>}
        {state?.status === "STARTED" && <span className="step-time">{durationOf(state.started_time, null, now)}</span>}
        {state && state.status !== "STARTED" && state.finished_time && (
          <span className="step-time">{durationOf(state.started_time, state.finished_time, now)}</span>
        )}
        {state && state.attempt > 1 && <span className="step-attempt">attempt {state.attempt}</span>}
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
}
