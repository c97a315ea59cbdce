// The API's problems about one field, shown at it.
export function FieldProblems({ problems, id }: { problems?: string[]; id: string }) {
  if (!problems || problems.length === 0) return null;
  return (
    <ul className="field-problems" role="alert" data-testid={`problems-${id}`}>
      {problems.map((p, i) => (
        <li key={i} className="field-problem">
          <span aria-hidden="true">✖</span> {p}
        </li>
      ))}
    </ul>
  );
}
