// The pipeline view's keys: r run, a abort, arrows move between steps, Esc clears.
import { inField, useWindowKeys } from "./windowKeys";

export interface Shortcuts {
  run(): void;
  abort(): void;
  move(by: number): void;
  clear(): void;
}

export function useShortcuts(actions: Shortcuts): void {
  useWindowKeys(actions, (event, a) => {
    if (inField(event)) return false;
    if (event.metaKey || event.ctrlKey || event.altKey) return false;
    if (event.key === "r") a.run();
    else if (event.key === "a") a.abort();
    else if (event.key === "ArrowDown" || event.key === "j") a.move(1);
    else if (event.key === "ArrowUp" || event.key === "k") a.move(-1);
    else if (event.key === "Escape") a.clear();
    else return false;
    return true;
  });
}
