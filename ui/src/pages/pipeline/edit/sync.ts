// How the editor follows the file on disk. Pure.
//
// The editor holds `base`, the version of the file its edits start from
// (its etag). A read of the file (on open, after a ProjectChanged event,
// after a refused save) either shows that version again (nothing to do), or
// a newer one: taken at once when there is nothing unsaved, else offered as
// a choice (reload, losing the edits, or overwrite the disk's version).

export type DiskDecision = "keep" | "reload" | "conflict";

export function onDiskRead(read: { diskEtag: string; baseEtag: string; dirty: boolean; saving: boolean }): DiskDecision {
  if (read.diskEtag === read.baseEtag) return "keep";
  if (read.saving) return "keep"; // decided again once the save answers
  return read.dirty ? "conflict" : "reload";
}

export type SaveState = "saved" | "unsaved" | "saving" | "conflict" | "error";

export function saveStateOf(s: { dirty: boolean; saving: boolean; conflict: boolean; failed: boolean }): SaveState {
  if (s.conflict) return "conflict";
  if (s.saving) return "saving";
  if (s.failed) return "error";
  return s.dirty ? "unsaved" : "saved";
}

export const SAVE_LABELS: Record<SaveState, { icon: string; text: string }> = {
  saved: { icon: "✔", text: "Saved" },
  unsaved: { icon: "●", text: "Unsaved changes" },
  saving: { icon: "↻", text: "Saving…" },
  conflict: { icon: "⚠", text: "Changed on disk" },
  error: { icon: "✖", text: "Not saved" },
};
