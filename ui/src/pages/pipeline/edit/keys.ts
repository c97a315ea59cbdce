// The editor's keys: Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z or Ctrl+Y redo,
// Ctrl/Cmd+S save now (not while typing in a field: there they are the field's).
import { useEffect, useRef } from "react";

export interface EditorKeys {
  undo(): void;
  redo(): void;
  save(): void;
}

export function useEditorKeys(actions: EditorKeys): void {
  const current = useRef(actions);
  current.current = actions;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      const a = current.current;
      if (key === "s") a.save();
      else {
        const target = event.target as HTMLElement | null;
        if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
        if (key === "z" && !event.shiftKey) a.undo();
        else if ((key === "z" && event.shiftKey) || key === "y") a.redo();
        else return;
      }
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
