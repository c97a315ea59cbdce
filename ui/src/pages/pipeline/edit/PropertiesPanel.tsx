// The editor's properties panel (of a step, or of the pipeline when no step
// is selected): its heading, then the problems of what it shows, then its
// fields.
import type { ReactNode } from "react";

export function PropertiesPanel({ of, problems, children }: { of: "Pipeline" | "Step"; problems: readonly string[]; children: ReactNode }) {
  return (
    <aside className="step-panel card properties" aria-label={`${of} properties`} data-testid={`${of.toLowerCase()}-properties`}>
      <h2>{of}</h2>
      <ProblemList problems={problems} />
      {children}
    </aside>
  );
}

function ProblemList({ problems }: { problems: readonly string[] }) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems error-text" role="alert">
      {problems.map((p) => (
        <li key={p}>
          <span aria-hidden="true">✖</span> {p}
        </li>
      ))}
    </ul>
  );
}
