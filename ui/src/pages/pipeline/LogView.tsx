// A step's log, streamed live while the step runs (follow), ANSI colours
// rendered; search, follow the end, jump to the end.
import { useMemo, useState } from "react";
import { LogBox } from "../../components/LogBox";
import { useTextStream } from "../../components/textStream";

export function LogView({ run, step, attempt, ended }: { run: string; step: string; attempt: number; ended: boolean }) {
  // A retry (a new attempt) reads the log again; an end keeps what was streamed.
  const stream = useTextStream(`/api/runs/${run}/steps/${step}/logs`, ended, attempt);
  const [search, setSearch] = useState("");
  const shown = useMemo(() => {
    if (!search) return stream.text;
    return stream.text
      .split("\n")
      .filter((line) => line.toLowerCase().includes(search.toLowerCase()))
      .join("\n");
  }, [stream.text, search]);
  return (
    <LogBox
      stream={stream}
      shown={shown}
      label="Step log"
      errorTitle="The log could not be read"
      testId="step-log"
      stateTestId="log-state"
      jump
      tools={
        <input type="search" placeholder="Search the log" value={search} onChange={(e) => setSearch(e.target.value)} aria-label="Search the log" />
      }
    />
  );
}
