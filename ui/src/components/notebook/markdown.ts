// A small Markdown reader for notebook cells (pure): blocks and inline
// marks as data, rendered by Markdown.tsx as React elements. Nothing is
// ever inserted as HTML: raw HTML in a cell shows as its text, and links
// keep only http(s), mailto and in-page targets, so a cell cannot run a
// script in the dashboard (sanitised by construction).

export type Inline =
  | { kind: "text"; text: string }
  | { kind: "code"; text: string }
  | { kind: "strong"; children: Inline[] }
  | { kind: "em"; children: Inline[] }
  | { kind: "link"; href: string | null; children: Inline[] };

export type Block =
  | { kind: "heading"; level: number; inlines: Inline[] }
  | { kind: "paragraph"; inlines: Inline[] }
  | { kind: "code"; text: string }
  | { kind: "list"; ordered: boolean; items: Inline[][] }
  | { kind: "quote"; inlines: Inline[] }
  | { kind: "rule" };

/** A link target kept, or null (the link shows as its text). */
export function safeHref(href: string): string | null {
  const h = href.trim();
  if (/^(https?:|mailto:)/i.test(h) || h.startsWith("#")) return h;
  return null;
}

const INLINE = /(`+)([\s\S]*?)\1|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]]*)\]\(([^)\s]*)\)/g;

export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if ((m.index ?? 0) > last) out.push({ kind: "text", text: text.slice(last, m.index) });
    last = (m.index ?? 0) + m[0].length;
    if (m[1]) out.push({ kind: "code", text: (m[2] ?? "").trim() });
    else if (m[3] ?? m[4]) out.push({ kind: "strong", children: parseInline((m[3] ?? m[4]) as string) });
    else if (m[5] ?? m[6]) out.push({ kind: "em", children: parseInline((m[5] ?? m[6]) as string) });
    else out.push({ kind: "link", href: safeHref(m[8] ?? ""), children: parseInline(m[7] ?? "") });
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const FENCE = /^\s*(```|~~~)/;

export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] as string).trim().startsWith(fence[1] as string)) body.push(lines[i++] as string);
      i++; // the closing fence
      blocks.push({ kind: "code", text: body.join("\n") });
      continue;
    }
    if (!line.trim()) {
      i++;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ kind: "heading", level: (heading[1] as string).length, inlines: parseInline(heading[2] as string) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ kind: "rule" });
      i++;
      continue;
    }
    const list = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (list) {
      const items: Inline[][] = [];
      while (i < lines.length && list.test(lines[i] as string)) items.push(parseInline(list.exec(lines[i++] as string)?.[1] ?? ""));
      blocks.push({ kind: "list", ordered: list === NUMBERED, items });
      continue;
    }
    const para: string[] = [];
    const quote = line.trimStart().startsWith(">");
    while (i < lines.length) {
      const l = lines[i] as string;
      if (!l.trim() || HEADING.test(l) || FENCE.test(l) || (!quote && (BULLET.test(l) || NUMBERED.test(l)))) break;
      if (quote !== l.trimStart().startsWith(">")) break;
      para.push(quote ? l.trimStart().replace(/^>\s?/, "") : l.trim());
      i++;
    }
    const inlines = parseInline(para.join(" "));
    blocks.push(quote ? { kind: "quote", inlines } : { kind: "paragraph", inlines });
  }
  return blocks;
}
