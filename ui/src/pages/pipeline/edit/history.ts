// Undo and redo over the edited definition: a pure reducer. Edits that
// share a `group` one after the other (typing in one field) undo as one.

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  /** The group of the last edit, while further edits of it merge into it. */
  group: string | null;
}

export type HistoryAction<T> =
  | { type: "edit"; next: T; group?: string }
  | { type: "undo" }
  | { type: "redo" }
  /** A new starting point (read from disk): nothing to undo. */
  | { type: "reset"; present: T };

export const MAX_UNDO = 200;

export function startHistory<T>(present: T): History<T> {
  return { past: [], present, future: [], group: null };
}

export function historyReducer<T>(h: History<T>, action: HistoryAction<T>): History<T> {
  switch (action.type) {
    case "edit": {
      if (action.next === h.present) return h;
      const group = action.group ?? null;
      if (group !== null && group === h.group) return { ...h, present: action.next, future: [] };
      const past = [...h.past, h.present].slice(-MAX_UNDO);
      return { past, present: action.next, future: [], group };
    }
    case "undo": {
      const previous = h.past[h.past.length - 1];
      if (previous === undefined) return h;
      return { past: h.past.slice(0, -1), present: previous, future: [h.present, ...h.future], group: null };
    }
    case "redo": {
      const [next, ...rest] = h.future;
      if (next === undefined) return h;
      return { past: [...h.past, h.present], present: next, future: rest, group: null };
    }
    case "reset":
      return startHistory(action.present);
  }
}

export const canUndo = (h: History<unknown>) => h.past.length > 0;
export const canRedo = (h: History<unknown>) => h.future.length > 0;
