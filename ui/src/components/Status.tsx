// A state told by colour, icon and text (colour-blind safe: never colour alone).
const LOOK: Record<string, { icon: string; tone: string; label: string }> = {
  PENDING: { icon: "○", tone: "pending", label: "Pending" },
  STARTED: { icon: "▶", tone: "running", label: "Running" },
  SUCCESS: { icon: "✔", tone: "success", label: "Succeeded" },
  FAILURE: { icon: "✖", tone: "failure", label: "Failed" },
  ABORTED: { icon: "■", tone: "aborted", label: "Aborted" },
  DRAFT: { icon: "✎", tone: "pending", label: "Draft" },
  PAUSED: { icon: "❚❚", tone: "aborted", label: "Paused" },
  LAUNCHING: { icon: "↻", tone: "running", label: "Launching" },
  RUNNING: { icon: "▶", tone: "running", label: "Running" },
  STOPPING: { icon: "↻", tone: "aborted", label: "Stopping" },
  STOPPED: { icon: "■", tone: "pending", label: "Stopped" },
  FAILED: { icon: "✖", tone: "failure", label: "Failed" },
};

export function toneOf(status: string): string {
  return LOOK[status]?.tone ?? "pending";
}

/** A state's icon, tone and label (for marks that are not a badge). */
export function lookOf(status: string): { icon: string; tone: string; label: string } {
  return LOOK[status] ?? { icon: "?", tone: "pending", label: status };
}

export function StatusBadge({ status, title }: { status: string; title?: string }) {
  const look = lookOf(status);
  return (
    <span className={`status status-${look.tone}`} title={title ?? look.label} data-status={status}>
      <span aria-hidden="true" className="status-icon">
        {look.icon}
      </span>{" "}
      {look.label}
    </span>
  );
}
