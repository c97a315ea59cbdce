// The editor's keys: Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z or Ctrl+Y redo,
// Ctrl/Cmd+S save now (not while typing in a field: there they are the field's).
import { inField, useWindowKeys } from "../windowKeys";

export interface EditorKeys {
  undo(): void;
  redo(): void;
  save(): void;
}

export function useEditorKeys(actions: EditorKeys): void {
  useWindowKeys(actions, (event, a) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return false;
    const key = event.key.toLowerCase();
    if (key === "s") a.save();
    else if (inField(event)) return false;
    else if (key === "z" && !event.shiftKey) a.undo();
    else if ((key === "z" && event.shiftKey) || key === "y") a.redo();
    else return false;
    return true;
  });
}
