// ANSI colour codes (SGR) of a log or a notebook's traceback turned into
// styled segments. Pure. The 16 colours are kept; 256-colour and true-colour
// codes (38;5;n, 38;2;r;g;b: IPython's tracebacks use them) are mapped to
// the nearest of the 16; backgrounds are dropped.

export interface Segment {
  text: string;
  fg: number | null; // 0-7, 8-15 for the bright colours
  bold: boolean;
}

const ESCAPE = /\x1b\[([0-9;]*)([A-Za-z])/g;

/** The nearest of the 16 colours to an RGB colour (0-255 each). */
function nearest16(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  if (max < 64) return 0;
  const on = (c: number) => c >= max / 2;
  const base = (on(r) ? 1 : 0) | (on(g) ? 2 : 0) | (on(b) ? 4 : 0);
  return max > 191 ? base + 8 : base;
}

/** One of the 256 xterm colours as one of the 16. */
export function from256(n: number): number {
  if (n < 16) return n;
  if (n >= 232) return n >= 244 ? 7 : 8; // greys
  const i = n - 16;
  const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
  return nearest16(level(Math.floor(i / 36)), level(Math.floor(i / 6) % 6), level(i % 6));
}

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
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i] as number;
      if (code === 38 || code === 48) {
        // Extended colour: 5;n or 2;r;g;b, a background dropped.
        const mode = codes[i + 1];
        const args = mode === 5 ? codes.slice(i + 2, i + 3) : mode === 2 ? codes.slice(i + 2, i + 5) : [];
        if (code === 38 && mode === 5 && args.length === 1) fg = from256(args[0] as number);
        if (code === 38 && mode === 2 && args.length === 3) fg = nearest16(args[0] as number, args[1] as number, args[2] as number);
        i += 1 + args.length;
      } else if (code === 0) {
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
