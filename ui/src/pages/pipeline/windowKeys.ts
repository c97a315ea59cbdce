// Keys the whole page answers (the pipeline view's, the editor's): one
// keydown listener on the window for the component's life, which always
// calls the latest actions given.
import { useEffect, useRef } from "react";

/** Whether the key was typed in a field (where keys are the field's). */
export const inField = (event: KeyboardEvent): boolean => {
  const target = event.target as HTMLElement | null;
  return Boolean(target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
};

/** `handle` answers a key with the actions, true when it took it (its default then prevented). */
export function useWindowKeys<A>(actions: A, handle: (event: KeyboardEvent, actions: A) => boolean): void {
  const current = useRef({ actions, handle });
  current.current = { actions, handle };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (current.current.handle(event, current.current.actions)) event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
