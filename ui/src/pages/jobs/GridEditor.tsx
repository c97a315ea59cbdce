// The parameter grid: values per pipeline and step parameter (JSON, checked
// as typed), the number of runs it makes, and its rows, each deselectable.
import { combinations, gridProblems, MAX_RUNS, type GridParam, type GridRow } from "./grid";

interface Props {
  grid: GridParam[];
  onGrid: (grid: GridParam[]) => void;
  rows: GridRow[];
  deselected: ReadonlySet<string>;
  onToggle: (key: string) => void;
  onAll: (selected: boolean) => void;
}

const MAX_LISTED = 500;

export function GridEditor({ grid, onGrid, rows, deselected, onToggle, onAll }: Props) {
  const problems = gridProblems(grid);
  const problemAt = (p: number, v: number) => problems.find((x) => x.param === p && x.value === v)?.error;
  const setValues = (p: number, values: string[]) =>
    onGrid(grid.map((param, i) => (i === p ? { ...param, values } : param)));
  const total = combinations(grid);
  const chosen = rows.filter((r) => !deselected.has(r.key)).length;
  return (
    <div className="grid-editor">
      {grid.length === 0 ? (
        <p className="muted">This pipeline has no parameters: each execution makes one run.</p>
      ) : (
        <table className="table grid-params">
          <thead>
            <tr>
              <th>Of</th>
              <th>Parameter</th>
              <th>Values (JSON, one run per combination)</th>
            </tr>
          </thead>
          <tbody>
            {grid.map((param, p) => (
              <tr key={`${param.scope}.${param.name}`} data-param={`${param.scopeLabel}.${param.name}`}>
                <td>{param.scopeLabel}</td>
                <td>
                  <code>{param.name}</code>
                </td>
                <td>
                  <div className="grid-values">
                    {param.values.map((value, v) => {
                      const problem = problemAt(p, v);
                      return (
                        <span key={v} className="grid-value">
                          <input
                            value={value}
                            size={Math.max(4, value.length + 1)}
                            aria-label={`${param.scopeLabel} ${param.name} value ${v + 1}`}
                            aria-invalid={problem ? true : undefined}
                            onChange={(e) => setValues(p, param.values.map((x, i) => (i === v ? e.target.value : x)))}
                          />
                          {param.values.length > 1 && (
                            <button
                              type="button"
                              className="link-button"
                              aria-label={`remove value ${v + 1} of ${param.name}`}
                              onClick={() => setValues(p, param.values.filter((_, i) => i !== v))}
                            >
                              ✕
                            </button>
                          )}
                          {problem && (
                            <span className="field-problem" role="alert">
                              <span aria-hidden="true">✖</span> {problem}
                            </span>
                          )}
                        </span>
                      );
                    })}
                    <button
                      type="button"
                      aria-label={`add a value to ${param.name}`}
                      data-testid="add-value"
                      onClick={() => setValues(p, [...param.values, ""])}
                    >
                      + value
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p data-testid="run-count" className="run-count">
        <strong>
          {chosen} run{chosen === 1 ? "" : "s"}
        </strong>{" "}
        per execution
        {total !== chosen && rows.length > 0 && <span className="muted"> ({total - chosen} of {total} combinations deselected)</span>}
        {total > MAX_RUNS && (
          <span className="field-problem">
            {" "}
            <span aria-hidden="true">✖</span> {total} combinations: at most {MAX_RUNS} per job
          </span>
        )}
        {problems.length > 0 && <span className="field-problem"> (fix the values above to see the rows)</span>}
      </p>
      {rows.length > 0 && grid.length > 0 && (
        <table className="table grid-rows" data-testid="grid-rows">
          <thead>
            <tr>
              <th>
                <input
                  type="checkbox"
                  aria-label="all rows"
                  checked={chosen === rows.length}
                  onChange={(e) => onAll(e.target.checked)}
                />
              </th>
              <th>#</th>
              {grid.map((param) => (
                <th key={`${param.scope}.${param.name}`}>
                  {param.scopeLabel === "Pipeline" ? "" : `${param.scopeLabel} `}
                  <code>{param.name}</code>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, MAX_LISTED).map((row, i) => {
              const on = !deselected.has(row.key);
              return (
                <tr key={row.key} className={on ? undefined : "row-off"} data-row={i + 1}>
                  <td>
                    <input type="checkbox" checked={on} aria-label={`run ${i + 1}`} onChange={() => onToggle(row.key)} />
                  </td>
                  <td>{i + 1}</td>
                  {row.cells.map(([, , value], j) => (
                    <td key={j}>
                      <code>{value}</code>
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {rows.length > MAX_LISTED && <p className="muted">The first {MAX_LISTED} of {rows.length} rows are listed.</p>}
    </div>
  );
}
