// A JSON object edited as text: checked on every keystroke, the error shown
// beside it; only a valid object is passed on.
import { useEffect, useState } from "react";

type Json = Record<string, unknown>;

export function parseObject(text: string): { value: Json } | { error: string } {
  try {
    const value: unknown = JSON.parse(text.trim() === "" ? "{}" : text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: "must be a JSON object: {\"name\": value, ...}" };
    return { value: value as Json };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const show = (value: Json) => JSON.stringify(value, null, 2);

interface Props {
  id: string;
  label: string;
  value: Json;
  onChange(value: Json): void;
  /** Every value a key may hold must be a string (env variables). */
  strings?: boolean;
}

export function JsonField({ id, label, value, onChange, strings = false }: Props) {
  const [text, setText] = useState(() => show(value));
  const [error, setError] = useState<string | null>(null);
  // Follows the value when it changes from elsewhere (undo, a reload), not while it is what the text says.
  useEffect(() => {
    const parsed = parseObject(text);
    if (!("value" in parsed) || show(parsed.value) !== show(value)) {
      setText(show(value));
      setError(null);
    }
  }, [value]);
  const change = (next: string) => {
    setText(next);
    const parsed = parseObject(next);
    if ("error" in parsed) return setError(parsed.error);
    if (strings && Object.values(parsed.value).some((v) => typeof v !== "string")) return setError("every value must be a string");
    setError(null);
    onChange(parsed.value);
  };
  return (
    <div className="json-field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        value={text}
        onChange={(e) => change(e.target.value)}
        rows={Math.min(10, Math.max(3, text.split("\n").length))}
        spellCheck={false}
        aria-invalid={error !== null}
        aria-describedby={error ? `${id}-error` : undefined}
        data-testid={id}
      />
      {error && (
        <div id={`${id}-error`} className="error-text" role="alert">
          <span aria-hidden="true">✖</span> {error}
        </div>
      )}
    </div>
  );
}
