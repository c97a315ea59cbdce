// A streamed log as the dashboard shows it (a step's, a build's): ANSI
// colours rendered, kept scrolled to its end while "Follow" is on, "● live"
// while it streams and "complete" once it ended, the stream's error above.
import { type ReactNode, useEffect, useRef, useState } from "react";
import { AnsiText } from "./AnsiText";
import { ErrorPanel } from "./ErrorPanel";
import type { useTextStream } from "./textStream";

interface Props {
  stream: ReturnType<typeof useTextStream>;
  /** What the box shows of the stream's text (a search's lines); all of it by default. */
  shown?: string;
  /** The log's name for a screen reader ("Step log"). */
  label: string;
  errorTitle: string;
  testId: string;
  stateTestId: string;
  /** Tools before "Follow" (a search field). */
  tools?: ReactNode;
  /** A "Jump to end" button after "Follow". */
  jump?: boolean;
}

export function LogBox({ stream, shown = stream.text, label, errorTitle, testId, stateTestId, tools, jump = false }: Props) {
  const { text, error, streaming } = stream;
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const toEnd = () => box.current?.scrollTo({ top: box.current.scrollHeight });
  useEffect(() => {
    if (follow) toEnd();
  }, [shown, follow]);
  return (
    <div className="log">
      <div className="log-tools">
        {tools}
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        {jump && (
          <button type="button" onClick={toEnd}>
            Jump to end
          </button>
        )}
        <span className="muted" data-testid={stateTestId}>
          {streaming ? "● live" : "complete"}
        </span>
      </div>
      <ErrorPanel error={error} title={errorTitle} />
      <pre className="log-text" ref={box} data-testid={testId} tabIndex={0} aria-label={label}>
        <AnsiText text={shown} />
        {!text && !streaming && <span className="muted">(no output)</span>}
      </pre>
    </div>
  );
}
