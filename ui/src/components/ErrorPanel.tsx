// An API error with every problem it named (a cycle named, a missing file...).
import { ApiError } from "../api/client";

export function ErrorPanel({ error, title = "Something went wrong" }: { error: unknown; title?: string }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  return (
    <div className="banner banner-error" role="alert">
      <strong>
        <span aria-hidden="true">✖</span> {title}:
      </strong>{" "}
      {api ? `${api.message} (${api.status})` : String(error)}
      {api && api.errors.length > 0 && (
        <ul>
          {api.errors.map((e, i) => (
            <li key={i}>
              {(e.loc ?? []).length > 0 && <code>{(e.loc ?? []).join(".")}</code>} {e.msg}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
