// Every attempt of a step in the shown run: status, exit code, error,
// start and end, duration (ticking while it runs), live; pick the one whose
// executed notebook is shown.
import type { LiveAttempt } from "../../live/attempts";
import { StatusBadge } from "../../components/Status";
import { Table, useDurationColumn } from "../../components/Table";
import { formatClock, formatTime } from "../../components/time";

interface Props {
  attempts: LiveAttempt[];
  shown: number | null;
  onShow: (attempt: number) => void;
}

export function StepAttempts({ attempts, shown, onShow }: Props) {
  const took = useDurationColumn(attempts, "Took");
  return (
    <div className="attempts-box">
      <Table
        rows={attempts}
        empty="No attempt yet."
        className="table attempts"
        testId="step-attempts"
        rowKey={(a) => a.attempt}
        row={(a) => ({ "data-attempt": a.attempt, "aria-current": shown === a.attempt ? "true" : undefined })}
        columns={[
          { head: "#", cell: (a) => a.attempt },
          {
            head: "Status",
            cell: (a) => (
              <>
                <StatusBadge status={a.status} title={a.error ?? undefined} />
                {a.error && <div className="error-text attempt-error">{a.error}</div>}
              </>
            ),
          },
          { head: "Exit", cell: (a) => a.exit_code ?? "" },
          { head: "Started", cell: (a) => formatClock(a.started_time), td: (a) => ({ title: formatTime(a.started_time) }) },
          { head: "Ended", cell: (a) => formatClock(a.finished_time), td: (a) => ({ title: formatTime(a.finished_time) }) },
          took,
          {
            head: null,
            cell: (a) =>
              (a.artifacts ?? []).includes("executed.ipynb") &&
              shown !== a.attempt && (
                <button type="button" className="link-button" onClick={() => onShow(a.attempt)}>
                  Notebook
                </button>
              ),
          },
        ]}
      />
    </div>
  );
}
