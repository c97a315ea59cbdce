// Events applied in batches, once per frame: at 200 events a second the page
// renders once before each paint with all that arrived, not once per event.
// A hidden tab gets no animation frames: a timer applies them there.

const FALLBACK_MS = 100;

export interface EventBatch<T> {
  add(item: T): void;
  cancel(): void;
}

export function eventBatch<T>(apply: (items: T[]) => void): EventBatch<T> {
  let pending: T[] = [];
  let frame = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    frame = 0;
    timer = undefined;
    const items = pending;
    pending = [];
    if (items.length > 0) apply(items);
  };
  return {
    add(item) {
      pending.push(item);
      if (timer === undefined) {
        frame = requestAnimationFrame(flush);
        timer = setTimeout(flush, FALLBACK_MS);
      }
    },
    cancel() {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
      pending = [];
    },
  };
}
