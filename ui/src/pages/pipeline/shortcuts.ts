// The pipeline view's keys: r run, a abort, arrows move between steps, Esc clears.
import { useEffect, useRef } from "react";

export interface Shortcuts {
  run(): void;
  abort(): void;
  move(by: number): void;
  clear(): void;
}

export function useShortcuts(actions: Shortcuts): void {
  const current = useRef(actions);
  current.current = actions;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (event.metaKey || event.ctrlKey || event.altKey) return;
      const a = current.current;
      if (event.key === "r") a.run();
      else if (event.key === "a") a.abort();
      else if (event.key === "ArrowDown" || event.key === "j") a.move(1);
      else if (event.key === "ArrowUp" || event.key === "k") a.move(-1);
      else if (event.key === "Escape") a.clear();
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
