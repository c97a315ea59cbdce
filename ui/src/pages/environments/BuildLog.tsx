// A build's log, streamed while the build goes (follow), ANSI colours
// rendered, kept scrolled to its end while "Follow" is on.
import { useEffect, useRef, useState } from "react";
import { AnsiText } from "../../components/AnsiText";
import { ErrorPanel } from "../../components/ErrorPanel";
import { useTextStream } from "../../components/textStream";

export function BuildLog({ path, ended }: { path: string; ended: boolean }) {
  const { text, error, streaming } = useTextStream(path, ended);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (follow) box.current?.scrollTo({ top: box.current.scrollHeight });
  }, [text, follow]);
  return (
    <div className="log">
      <div className="log-tools">
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <span className="muted" data-testid="build-log-state">
          {streaming ? "● live" : "complete"}
        </span>
      </div>
      <ErrorPanel error={error} title="The build's log could not be read" />
      <pre className="log-text" ref={box} data-testid="build-log" tabIndex={0} aria-label="Build log">
        <AnsiText text={text} />
        {!text && !streaming && <span className="muted">(no output)</span>}
      </pre>
    </div>
  );
}
