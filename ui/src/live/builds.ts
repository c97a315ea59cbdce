// Environment build events applied to cached builds and environments (pure).
// A build event carries no sequence: it counts when it moves the build
// forward (PENDING -> STARTED -> an end), so a duplicate or a late event
// never undoes a fresher state.
import type { BuildList, BuildView, EnvironmentBuildChanged, EnvironmentList, EnvironmentView } from "../api/types";
import { rank } from "./order";

/** The build with the event applied (the same object when it changes nothing). */
export function applyBuildEvent(build: BuildView, event: EnvironmentBuildChanged): BuildView {
  if (build.uuid !== event.build_uuid) return build;
  if (rank(event.status) <= rank(build.status)) return build;
  const ended = rank(event.status) >= rank("SUCCESS");
  return {
    ...build,
    status: event.status,
    reason: event.reason ?? build.reason ?? null,
    exit_code: event.exit_code ?? build.exit_code ?? null,
    started_time: build.started_time ?? (event.status === "STARTED" ? event.occurred_at : null),
    finished_time: ended ? (build.finished_time ?? event.occurred_at) : (build.finished_time ?? null),
  };
}

/** An environment's builds (newest first); `known` is false for a build the
 * list lacks (a new build: read the list again). */
export function applyBuildListEvent(list: BuildList, event: EnvironmentBuildChanged): { list: BuildList; known: boolean } {
  const index = list.builds.findIndex((b) => b.uuid === event.build_uuid);
  if (index < 0) return { list, known: false };
  const build = list.builds[index] as BuildView;
  const next = applyBuildEvent(build, event);
  if (next === build) return { list, known: true };
  const builds = list.builds.slice();
  builds[index] = next;
  return { list: { ...list, builds }, known: true };
}

/** An environment's latest build moved by the event; `known` is false when
 * the event is about another, newer build than the one shown. */
export function applyEnvironmentEvent(env: EnvironmentView, event: EnvironmentBuildChanged): { env: EnvironmentView; known: boolean } {
  if (env.uuid !== event.environment_uuid) return { env, known: true };
  const latest = env.latest_build;
  if (!latest || latest.uuid !== event.build_uuid) return { env, known: false };
  const next = applyBuildEvent(latest, event);
  return { env: next === latest ? env : { ...env, latest_build: next }, known: true };
}

export function applyEnvironmentListEvent(
  list: EnvironmentList,
  event: EnvironmentBuildChanged,
): { list: EnvironmentList; known: boolean } {
  let known = true;
  let changed = false;
  const environments = list.environments.map((e) => {
    const applied = applyEnvironmentEvent(e, event);
    known &&= applied.known;
    changed ||= applied.env !== e;
    return applied.env;
  });
  return { list: changed ? { ...list, environments } : list, known };
}
