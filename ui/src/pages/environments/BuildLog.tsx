// A build's log, streamed while the build goes (follow), ANSI colours
// rendered, kept scrolled to its end while "Follow" is on.
import { LogBox } from "../../components/LogBox";
import { useTextStream } from "../../components/textStream";

export function BuildLog({ path, ended }: { path: string; ended: boolean }) {
  return (
    <LogBox
      stream={useTextStream(path, ended)}
      label="Build log"
      errorTitle="The build's log could not be read"
      testId="build-log"
      stateTestId="build-log-state"
    />
  );
}
