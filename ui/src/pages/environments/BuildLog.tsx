// A build's log, streamed while the build goes (follow), ANSI colours
// rendered, kept scrolled to its end while "Follow" is on.
import { useEffect, useRef, useState } from "react";
import { apiFetch } from "../../api/client";
import { AnsiText } from "../../components/AnsiText";
import { ErrorPanel } from "../../components/ErrorPanel";

function useBuildLog(path: string, ended: boolean) {
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  useEffect(() => {
    const abort = new AbortController();
    setText("");
    setError(null);
    setStreaming(!ended);
    (async () => {
      const response = await apiFetch(ended ? path : `${path}?follow=true`, { signal: abort.signal });
      const reader = (response.body as ReadableStream<Uint8Array>)
        .pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>)
        .getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        setText((t) => t + value);
      }
    })()
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setError(e);
      })
      .finally(() => {
        if (!abort.signal.aborted) setStreaming(false);
      });
    return () => abort.abort();
    // Another build reads its own log; the end of this one keeps what was streamed.
  }, [path]);
  return { text, error, streaming };
}

export function BuildLog({ path, ended }: { path: string; ended: boolean }) {
  const { text, error, streaming } = useBuildLog(path, ended);
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
