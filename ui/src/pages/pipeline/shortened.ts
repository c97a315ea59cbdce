// A step node's title and file are shortened here rather than by CSS
// (`text-overflow: ellipsis` needs an overflow clip, one more clip of the
// page's paint per line per node, which Chromium's compositing goes through
// on every frame: on a 500-step pipeline the clips cost more than the rest).

/** `text` at most `max` characters long, the last an ellipsis when cut. */
export function shortened(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join("") + "…";
}
