// The job's env variables: name and value rows, each name checked as typed.
import { envProblems, type EnvRow } from "./form";

export function EnvEditor({ rows, onRows }: { rows: EnvRow[]; onRows: (rows: EnvRow[]) => void }) {
  const problems = envProblems(rows);
  const set = (i: number, row: EnvRow) => onRows(rows.map((r, j) => (j === i ? row : r)));
  return (
    <div className="env-editor">
      {rows.map((row, i) => (
        <div key={i} className="inline-form">
          <input
            aria-label={`variable ${i + 1} name`}
            placeholder="NAME"
            value={row.name}
            aria-invalid={problems[i] ? true : undefined}
            onChange={(e) => set(i, { ...row, name: e.target.value })}
          />
          =
          <input
            aria-label={`variable ${i + 1} value`}
            placeholder="value"
            value={row.value}
            onChange={(e) => set(i, { ...row, value: e.target.value })}
          />
          <button type="button" aria-label={`remove variable ${i + 1}`} onClick={() => onRows(rows.filter((_, j) => j !== i))}>
            ✕
          </button>
          {problems[i] && (
            <span className="field-problem" role="alert">
              <span aria-hidden="true">✖</span> {problems[i]}
            </span>
          )}
        </div>
      ))}
      <button type="button" onClick={() => onRows([...rows, { name: "", value: "" }])}>
        + variable
      </button>
    </div>
  );
}
