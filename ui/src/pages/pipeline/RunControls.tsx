// Run the pipeline or a part of it; each button shows, while hovered or
// focused, the steps it would run. Abort the shown run; pick a past run.
import type { RunType, RunView } from "../../api/types";
import { StatusBadge } from "../../components/Status";
import { formatTime } from "../../components/time";
import { ENDED } from "../../live/order";
import { RUN_TYPES } from "./selection";

interface Props {
  selectedCount: number;
  busy: boolean;
  run: RunView | null;
  history: RunView[];
  onPreview(type: RunType | null): void;
  onRun(type: RunType): void;
  onAbort(): void;
  onPick(run: string): void;
}

export function RunControls({ selectedCount, busy, run, history, onPreview, onRun, onAbort, onPick }: Props) {
  return (
    <div className="run-controls" role="toolbar" aria-label="Run">
      {RUN_TYPES.map(({ type, label, needsSelection }) => (
        <button
          key={type}
          type="button"
          data-run-type={type}
          disabled={busy || (needsSelection && selectedCount === 0)}
          onMouseEnter={() => onPreview(type)}
          onMouseLeave={() => onPreview(null)}
          onFocus={() => onPreview(type)}
          onBlur={() => onPreview(null)}
          onClick={() => onRun(type)}
        >
          <span aria-hidden="true">▶</span> {label}
        </button>
      ))}
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
