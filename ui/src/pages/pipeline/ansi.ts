// ANSI colour codes (SGR) of a log turned into styled segments. Pure.

export interface Segment {
  text: string;
  fg: number | null; // 0-7, 8-15 for the bright colours
  bold: boolean;
}

const ESCAPE = /\x1b\[([0-9;]*)([A-Za-z])/g;

export function parseAnsi(text: string): Segment[] {
  const segments: Segment[] = [];
  let fg: number | null = null;
  let bold = false;
  let last = 0;
  const push = (part: string) => {
    if (!part) return;
    const prev = segments[segments.length - 1];
    if (prev && prev.fg === fg && prev.bold === bold) prev.text += part;
    else segments.push({ text: part, fg, bold });
  };
  for (const m of text.matchAll(ESCAPE)) {
    push(text.slice(last, m.index));
    last = (m.index ?? 0) + m[0].length;
    if (m[2] !== "m") continue; // cursor moves and the like: dropped
    const codes = (m[1] ?? "").split(";").filter((c) => c !== "").map(Number);
    if (codes.length === 0) codes.push(0);
    for (const code of codes) {
      if (code === 0) {
        fg = null;
        bold = false;
      } else if (code === 1) bold = true;
      else if (code === 22) bold = false;
      else if (code >= 30 && code <= 37) fg = code - 30;
      else if (code >= 90 && code <= 97) fg = code - 90 + 8;
      else if (code === 39) fg = null;
    }
  }
  push(text.slice(last));
  return segments;
}
