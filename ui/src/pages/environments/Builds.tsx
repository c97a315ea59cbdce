// An environment's builds, newest first, each state live; one is selected
// (its log is shown), a going one can be cancelled.
import type { BuildView } from "../../api/types";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatTime, useNow } from "../../components/time";
import { isGoing } from "./form";

interface Props {
  builds: BuildView[];
  selected: string | null;
  onSelect: (build: string) => void;
  onCancel: (build: string) => void;
  cancelling: boolean;
}

export function Builds({ builds, selected, onSelect, onCancel, cancelling }: Props) {
  const now = useNow(builds.some((b) => isGoing(b.status)));
  if (builds.length === 0) return <p className="muted">No build yet.</p>;
  return (
    <table className="table" data-testid="builds-table">
      <thead>
        <tr>
          <th>Build</th>
          <th>Status</th>
          <th>Created</th>
          <th>Took</th>
          <th>Exit code / reason</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {builds.map((b) => (
          <tr key={b.uuid} data-build={b.uuid} data-status={b.status} aria-selected={b.uuid === selected}>
            <td>
              <button type="button" className="link" onClick={() => onSelect(b.uuid)} aria-pressed={b.uuid === selected}>
                <code>{b.uuid.slice(0, 8)}</code>
              </button>
            </td>
            <td>
              <StatusBadge status={b.status} />
            </td>
            <td>{formatTime(b.created_time)}</td>
            <td>{durationOf(b.started_time, b.finished_time, now)}</td>
            <td>
              {b.exit_code !== null && b.exit_code !== undefined && <code>exit {b.exit_code}</code>} {b.reason}
            </td>
            <td>
              {isGoing(b.status) && (
                <button type="button" className="danger" data-testid="cancel-build" disabled={cancelling} onClick={() => onCancel(b.uuid)}>
                  Cancel
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
