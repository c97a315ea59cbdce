// Text with its ANSI colours rendered (segments from ansi.ts; styles.css .ansi-*).
import { useMemo } from "react";
import { parseAnsi } from "./ansi";

export function AnsiText({ text }: { text: string }) {
  const segments = useMemo(() => parseAnsi(text), [text]);
  return (
    <>
      {segments.map((s, i) => (
        <span key={i} className={`${s.fg !== null ? `ansi-${s.fg}` : ""}${s.bold ? " ansi-bold" : ""}`}>
          {s.text}
        </span>
      ))}
    </>
  );
}
