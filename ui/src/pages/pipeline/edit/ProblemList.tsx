// The problems of what the properties panel shows (a step, the pipeline).
export function ProblemList({ problems }: { problems: readonly string[] }) {
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
