// A plain-text answer of the API read as it streams (a step's or a build's
// log with `?follow=true`): its text so far, an error, whether it still streams.
import { useEffect, useState } from "react";
import { apiFetch } from "../api/client";

/** Reads `path` (followed unless `ended`); read again when `path` or `again`
 * changes, not when `ended` does (an end keeps what was streamed). */
export function useTextStream(path: string, ended: boolean, again: unknown = null) {
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
  }, [path, again]);
  return { text, error, streaming };
}
