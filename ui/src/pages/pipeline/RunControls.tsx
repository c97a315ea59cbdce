// Run the pipeline or a part of it; each button shows, while hovered or
// focused, the steps it would run. Abort the shown run; pick a past run.
import type { ErrorDetail, RunType, RunView } from "../../api/types";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { ENDED } from "../../live/order";
import { readable } from "./edit/problems";
import { RUN_TYPES } from "./selection";

interface Props {
  selectedCount: number;
  busy: boolean;
  /** Why no run can start (the pipeline's problems, unsaved edits): every run button disabled, the reason shown. */
  blocked?: string | null;
  run: RunView | null;
  history: RunView[];
  onPreview(type: RunType | null): void;
  onRun(type: RunType): void;
  onAbort(): void;
  onPick(run: string): void;
}

/** Why a pipeline with these problems cannot run, or null. */
export function blockedReason(problems: readonly ErrorDetail[]): string | null {
  if (problems.length === 0) return null;
  const first = readable(problems[0]?.msg ?? "");
  return `Cannot run: ${problems.length} problem${problems.length === 1 ? "" : "s"} (${first}${problems.length > 1 ? ", …" : ""})`;
}

export function RunControls({ selectedCount, busy, blocked, run, history, onPreview, onRun, onAbort, onPick }: Props) {
  return (
    <div className="run-controls" role="toolbar" aria-label="Run">
      {RUN_TYPES.map(({ type, label, needsSelection }) => (
        <button
          key={type}
          type="button"
          data-run-type={type}
          disabled={busy || Boolean(blocked) || (needsSelection && selectedCount === 0)}
          title={blocked ?? undefined}
          onMouseEnter={() => onPreview(type)}
          onMouseLeave={() => onPreview(null)}
          onFocus={() => onPreview(type)}
          onBlur={() => onPreview(null)}
          onClick={() => onRun(type)}
        >
          <span aria-hidden="true">▶</span> {label}
        </button>
      ))}
      {blocked && (
        <span className="run-blocked" role="note" data-testid="run-blocked">
          <span aria-hidden="true">⚠</span> {blocked}
        </span>
      )}
      {run && !ENDED.has(run.status) && (
        <button type="button" className="danger" onClick={onAbort} title="Abort this run (a)">
          <span aria-hidden="true">■</span> Abort
        </button>
      )}
      <label className="run-picker">
        Run{" "}
        <select value={run?.uuid ?? ""} onChange={(e) => onPick(e.target.value)} data-testid="run-picker">
          {!run && <option value="">none yet</option>}
          {history.map((r) => (
            <option key={r.uuid} value={r.uuid}>
              {r.uuid.slice(0, 8)} · {r.run_type} · {r.status} · {formatTime(r.created_time)}
            </option>
          ))}
        </select>
      </label>
      {run && <StatusBadge status={run.status} />}
    </div>
  );
}
