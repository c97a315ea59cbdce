// Every attempt of a step in the shown run: status, exit code, error,
// start and end, duration (ticking while it runs), live; pick the one whose
// executed notebook is shown.
import type { LiveAttempt } from "../../live/attempts";
import { StatusBadge } from "../../components/Status";
import { durationOf, formatClock, formatTime, useNow } from "../../components/time";

interface Props {
  attempts: LiveAttempt[];
  shown: number | null;
  onShow: (attempt: number) => void;
}

export function StepAttempts({ attempts, shown, onShow }: Props) {
  const now = useNow(attempts.some((a) => a.status === "STARTED"));
  if (attempts.length === 0) return <p className="muted">No attempt yet.</p>;
  return (
    <div className="attempts-box">
      <table className="table attempts" data-testid="step-attempts">
        <thead>
          <tr>
            <th>#</th>
            <th>Status</th>
            <th>Exit</th>
            <th>Started</th>
            <th>Ended</th>
            <th>Took</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {attempts.map((a) => (
            <tr key={a.attempt} data-attempt={a.attempt} aria-current={shown === a.attempt ? "true" : undefined}>
              <td>{a.attempt}</td>
              <td>
                <StatusBadge status={a.status} title={a.error ?? undefined} />
                {a.error && <div className="error-text attempt-error">{a.error}</div>}
              </td>
              <td>{a.exit_code ?? ""}</td>
              <td title={formatTime(a.started_time)}>{formatClock(a.started_time)}</td>
              <td title={formatTime(a.finished_time)}>{formatClock(a.finished_time)}</td>
              <td>{durationOf(a.started_time, a.finished_time, now)}</td>
              <td>
                {(a.artifacts ?? []).includes("executed.ipynb") && shown !== a.attempt && (
                  <button type="button" className="link-button" onClick={() => onShow(a.attempt)}>
                    Notebook
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
