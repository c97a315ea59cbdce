// A refusal's problems (an ApiError's `errors`) as text under the form field
// each names, for the forms that show them beside their fields.
import type { ErrorDetail } from "./types";

type Loc = NonNullable<ErrorDetail["loc"]>;

/**
 * Each problem under the field `place` finds for its `loc` (its own
 * "other" when none), the message after what `place` says of where in the
 * field it is (a row, a key; "" for nothing).
 */
export function groupProblems<F extends string>(
  errors: ErrorDetail[],
  place: (loc: Loc) => { field: F; where: string },
): Partial<Record<F, string[]>> {
  const found: Partial<Record<F, string[]>> = {};
  for (const e of errors) {
    const { field, where } = place(e.loc ?? []);
    (found[field] ??= []).push(where + e.msg);
  }
  return found;
}
