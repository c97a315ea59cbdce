// An environment's builds, newest first, each state live; one is selected
// (its log is shown), a going one can be cancelled.
import type { BuildView } from "../../api/types";
import { statusColumn, Table, useDurationColumn } from "../../components/Table";
import { formatTime } from "../../components/time";
import { diskNote, isGoing } from "./form";

interface Props {
  builds: BuildView[];
  selected: string | null;
  onSelect: (build: string) => void;
  onCancel: (build: string) => void;
  cancelling: boolean;
}

export function Builds({ builds, selected, onSelect, onCancel, cancelling }: Props) {
  const took = useDurationColumn(builds, "Took", isGoing);
  return (
    <Table
      rows={builds}
      empty="No build yet."
      testId="builds-table"
      rowKey={(b) => b.uuid}
      row={(b) => ({ "data-build": b.uuid, "data-status": b.status, "aria-selected": b.uuid === selected })}
      columns={[
        {
          head: "Build",
          cell: (b) => (
            <button type="button" className="link" onClick={() => onSelect(b.uuid)} aria-pressed={b.uuid === selected}>
              <code>{b.uuid.slice(0, 8)}</code>
            </button>
          ),
        },
        statusColumn(),
        { head: "Created", cell: (b) => formatTime(b.created_time) },
        took,
        {
          head: "Exit code / reason",
          cell: (b) => (
            <>
              {b.exit_code !== null && b.exit_code !== undefined && <code>exit {b.exit_code}</code>} {b.reason}
            </>
          ),
        },
        {
          head: "Venv",
          cell: (b) => (
            <span data-testid="build-disk" title={b.pruned_time ? `removed ${formatTime(b.pruned_time)}` : undefined}>
              {diskNote(b)}
            </span>
          ),
        },
        {
          head: null,
          cell: (b) =>
            isGoing(b.status) && (
              <button type="button" className="danger" data-testid="cancel-build" disabled={cancelling} onClick={() => onCancel(b.uuid)}>
                Cancel
              </button>
            ),
        },
      ]}
    />
  );
}
