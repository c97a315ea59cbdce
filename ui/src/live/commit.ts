// A frame's events applied and rendered within that frame. TanStack Query
// tells the components reading the cache on a timer of its own
// (`setTimeout(0)`), and React renders an update made outside its events in a
// task of its own: both after the frame that applied the events, whose paint
// then shows nothing new; the page showed them a frame later (measured: 20 to
// 50 ms more per event at 200 events a second, docs/performance.md). Here the
// cache's readers are told at once, and React renders and commits before the
// frame's callback returns (`flushSync`): the frame that applied the events
// paints them. Outside it, TanStack Query schedules as it always does.
import { defaultScheduler, notifyManager } from "@tanstack/react-query";

let now = false;
let installed = false;

/** Runs `apply` (changes of the query cache) inside `commit` (react-dom's
 * `flushSync`), its readers told inside it too, all in one batch. */
export function applyInFrame(apply: () => void, commit: (work: () => void) => void): void {
  if (!installed) {
    installed = true;
    notifyManager.setScheduler((callback) => (now ? callback() : defaultScheduler(callback)));
  }
  commit(() => {
    now = true;
    try {
      notifyManager.batch(apply);
    } finally {
      now = false;
    }
  });
}
