// The app's one EventSource on /api/events: every event, resumed after a
// loss from the last id seen (the browser sends Last-Event-ID on its own
// reconnects; after the gateway's `event: error` the stream is reopened
// with last_event_id), so nothing is missed and nothing applied twice.
import { getToken } from "../auth/token";
import { EVENT_KINDS, type BusEvent } from "../api/types";

export type Connection = "connecting" | "open" | "lost";

export interface StreamHandlers {
  onEvent(event: BusEvent): void;
  /** Opened; `resumed` is false on the first open (the reads made before it may have missed events). */
  onOpen(resumed: boolean): void;
  onState(state: Connection): void;
}

export function streamUrl(lastEventId: string | null, token: string | null): string {
  const query = new URLSearchParams();
  if (lastEventId) query.set("last_event_id", lastEventId);
  if (token) query.set("access_token", token);
  const text = query.toString();
  return text ? `/api/events?${text}` : "/api/events";
}

/** Opens the stream; the returned function closes it. */
export function openStream(handlers: StreamHandlers): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let opened = false;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    if (closed) return;
    handlers.onState(opened ? "lost" : "connecting");
    const es = new EventSource(streamUrl(lastId, getToken()));
    source = es;
    es.onopen = () => {
      handlers.onState("open");
      handlers.onOpen(opened);
      opened = true;
    };
    const take = (message: MessageEvent<string>) => {
      if (message.lastEventId) lastId = message.lastEventId;
      try {
        handlers.onEvent(JSON.parse(message.data) as BusEvent);
      } catch (error) {
        console.warn("unreadable event", message.data, error);
      }
    };
    for (const kind of EVENT_KINDS) es.addEventListener(kind, take);
    es.addEventListener("error", (event) => {
      if (event instanceof MessageEvent) {
        // The gateway dropped a reader that fell behind: resume from the id it names.
        const body = JSON.parse(String(event.data)) as { last_event_id?: string | null };
        if (body.last_event_id) lastId = body.last_event_id;
        es.close();
        retry = setTimeout(connect, 0);
        return;
      }
      handlers.onState("lost");
      if (es.readyState === EventSource.CLOSED) {
        // Not retried by the browser (a 401, a 5xx): try again shortly.
        retry = setTimeout(connect, 2000);
      }
    });
  };
  connect();
  return () => {
    closed = true;
    clearTimeout(retry);
    source?.close();
  };
}
