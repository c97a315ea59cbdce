// Opens the app's one event stream and applies its events to the query cache.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { flushSync } from "react-dom";
import type { BusEvent } from "../api/types";
import { eventBatch } from "./batch";
import { applyEventToCache } from "./cache";
import { applyInFrame } from "./commit";
import { openStream, type Connection } from "./stream";

const ConnectionContext = createContext<Connection>("connecting");

export function useConnection(): Connection {
  return useContext(ConnectionContext);
}

export function LiveProvider({ token, children }: { token: string | null; children: ReactNode }) {
  const qc = useQueryClient();
  const [state, setState] = useState<Connection>("connecting");
  useEffect(() => {
    // Each frame's events applied and rendered in that frame (commit.ts).
    const batch = eventBatch<BusEvent>((events) =>
      applyInFrame(() => events.forEach((e) => applyEventToCache(qc, e)), flushSync),
    );
    const close = openStream({
      onEvent: batch.add,
      // Reads made before the stream opened may have missed events: read them again.
      onOpen: (resumed) => {
        if (!resumed) void qc.invalidateQueries();
      },
      onState: setState,
    });
    return () => {
      close();
      batch.cancel();
    };
  }, [qc, token]);
  return <ConnectionContext.Provider value={state}>{children}</ConnectionContext.Provider>;
}

export function ConnectionBanner() {
  const state = useConnection();
  if (state !== "lost") return null;
  return (
    <div className="banner banner-warn" role="status" data-testid="connection-lost">
      <span aria-hidden="true">⚠</span> Connection to the server lost: reconnecting, then replaying
      what was missed.
    </div>
  );
}
