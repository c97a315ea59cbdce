// A step's log, streamed live while the step runs (follow), ANSI colours
// rendered; search, follow the end, jump to the end.
import { useEffect, useMemo, useRef, useState } from "react";
import { ErrorPanel } from "../../components/ErrorPanel";
import { AnsiText } from "../../components/AnsiText";
import { useTextStream } from "../../components/textStream";

function useStepLog(run: string, step: string, attempt: number, ended: boolean) {
  // A retry (a new attempt) reads the log again; an end keeps what was streamed.
  return useTextStream(`/api/runs/${run}/steps/${step}/logs`, ended, attempt);
}

export function LogView({ run, step, attempt, ended }: { run: string; step: string; attempt: number; ended: boolean }) {
  const { text, error, streaming } = useStepLog(run, step, attempt, ended);
  const [search, setSearch] = useState("");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const shown = useMemo(() => {
    if (!search) return text;
    return text
      .split("\n")
      .filter((line) => line.toLowerCase().includes(search.toLowerCase()))
      .join("\n");
  }, [text, search]);
  const toEnd = () => box.current?.scrollTo({ top: box.current.scrollHeight });
  useEffect(() => {
    if (follow) toEnd();
  }, [shown, follow]);
  return (
    <div className="log">
      <div className="log-tools">
        <input type="search" placeholder="Search the log" value={search} onChange={(e) => setSearch(e.target.value)} aria-label="Search the log" />
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <button type="button" onClick={toEnd}>
          Jump to end
        </button>
        <span className="muted" data-testid="log-state">
          {streaming ? "● live" : "complete"}
        </span>
      </div>
      <ErrorPanel error={error} title="The log could not be read" />
      <pre className="log-text" ref={box} data-testid="step-log" tabIndex={0} aria-label="Step log">
        <AnsiText text={shown} />
        {!text && !streaming && <span className="muted">(no output)</span>}
      </pre>
    </div>
  );
}
