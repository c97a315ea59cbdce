// Each step node's own view of the shown run's states: the DAG puts the
// states in a small store, which tells only the nodes whose step changed.
// A live event then re-renders that step's node alone; the DAG's nodes
// (positions, titles, selection) stay the same objects and React Flow
// does no work.
import { createContext, useContext, useSyncExternalStore } from "react";
import type { StepView } from "../../api/types";

type States = ReadonlyMap<string, StepView>;

export class StepStates {
  private states: States;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(states: States = new Map()) {
    this.states = states;
  }

  /** The shown run's states now: the nodes of the steps that changed are told. */
  update(next: States): void {
    const before = this.states;
    this.states = next;
    for (const [step, listeners] of this.listeners) {
      if (before.get(step) !== next.get(step)) for (const listener of listeners) listener();
    }
  }

  get(step: string): StepView | null {
    return this.states.get(step) ?? null;
  }

  subscribe(step: string, listener: () => void): () => void {
    let listeners = this.listeners.get(step);
    if (!listeners) this.listeners.set(step, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.listeners.delete(step);
    };
  }
}

const StepStatesContext = createContext<StepStates>(new StepStates());

export const StepStatesProvider = StepStatesContext.Provider;

/** The step's state in the shown run (null: no run, or not part of it). */
export function useStepState(step: string): StepView | null {
  const store = useContext(StepStatesContext);
  return useSyncExternalStore(
    (listener) => store.subscribe(step, listener),
    () => store.get(step),
  );
}
