// A destructive action asked twice: the first click shows what it will do and
// a confirming button (keyboard reachable), the second does it.
import { useState, type ReactNode } from "react";

interface Props {
  children: ReactNode;
  /** What the action does, asked before doing it. */
  question: string;
  confirm: string;
  onConfirm: () => void;
  disabled?: boolean;
  testId?: string;
}

export function ConfirmButton({ children, question, confirm, onConfirm, disabled, testId }: Props) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className="danger" disabled={disabled} data-testid={testId} onClick={() => setAsking(true)}>
        {children}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span>{question}</span>{" "}
      <button
        type="button"
        className="danger"
        autoFocus
        data-testid={testId && `${testId}-confirm`}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>{" "}
      <button type="button" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}
