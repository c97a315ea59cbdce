import { useState, useSyncExternalStore } from "react";

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

// One clock for every ticking component: a pipeline with hundreds of
// running steps re-renders them together once a second, not each on its
// own timer (hundreds of renders a second).
const ticking = new Set<() => void>();
let clock: ReturnType<typeof setInterval> | undefined;
let clockNow = Date.now();

function subscribe(onTick: () => void): () => void {
  ticking.add(onTick);
  if (clock === undefined) {
    clockNow = Date.now();
    clock = setInterval(() => {
      clockNow = Date.now();
      for (const tick of ticking) tick();
    }, 1000);
  }
  return () => {
    ticking.delete(onTick);
    if (ticking.size === 0) {
      clearInterval(clock);
      clock = undefined;
    }
  };
}

const noSubscription = () => () => undefined;
const snapshot = () => clockNow;

/** Now, every second while `ticking` (for the duration of a running step). */
export function useNow(ticking: boolean): number {
  const [mounted] = useState(() => Date.now());
  const now = useSyncExternalStore(ticking ? subscribe : noSubscription, snapshot);
  return ticking ? Math.max(now, mounted) : mounted;
}

export function durationOf(start: string | null | undefined, end: string | null | undefined, now: number): string {
  if (!start) return "";
  return formatDuration((end ? Date.parse(end) : now) - Date.parse(start));
}

export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** The time of day alone (the date in a title or beside it elsewhere). */
export function formatClock(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}
