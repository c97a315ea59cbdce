// One step on the DAG: its title, file and state (colour, icon, text), a
// ticking duration while it runs, the attempt when past the first, the
// failure reason on hover.
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { StatusBadge, toneOf } from "../../components/Status";
import { durationOf, useNow } from "../../components/time";
import { shortened } from "./shortened";
import { useStepState } from "./stepStates";

// What fits a node's 200 px of text (bold 13 px, 11 px), with room for wide letters.
const TITLE_CHARS = 24;
const FILE_CHARS = 30;

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
      <Shortened className="step-title" text={data.title} max={TITLE_CHARS} />
      <Shortened className="step-file muted" text={data.file} max={FILE_CHARS} />
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

/** A line of text cut to `max` characters; the whole on hover when cut. */
function Shortened({ className, text, max }: { className: string; text: string; max: number }) {
  const shown = shortened(text, max);
  return (
    <div className={className} title={shown === text ? undefined : text}>
      {shown}
    </div>
  );
}
