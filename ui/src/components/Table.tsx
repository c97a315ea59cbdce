// The dashboard's lists as tables (runs, a job's runs, jobs, builds, step
// attempts): one column a header and how a row fills its cell, a row's
// attributes (its data-* for the tests and the live views, its selection),
// and a line said instead of an empty table. The status and duration columns
// are the same everywhere, so they are made here.
import type { HTMLAttributes, Key, ReactNode, TdHTMLAttributes } from "react";
import { StatusBadge } from "./Status";
import { durationOf, useNow } from "./time";

/** An element's attributes, its data-* included. */
type Attributes<A> = A & { [data: `data-${string}`]: string | number | boolean | undefined };

export interface Column<T> {
  head: ReactNode;
  cell: (row: T) => ReactNode;
  /** The cell's own attributes (a class, a title, a test id). */
  td?: (row: T) => Attributes<TdHTMLAttributes<HTMLTableCellElement>>;
}

interface Props<T> {
  rows: T[];
  /** `false` leaves a column out (`compact && column`). */
  columns: (Column<T> | false)[];
  rowKey: (row: T) => Key;
  row?: (row: T) => Attributes<HTMLAttributes<HTMLTableRowElement>>;
  /** Said instead of the table when there is no row. */
  empty: string;
  className?: string;
  testId?: string;
}

export function Table<T>({ rows, columns, rowKey, row, empty, className = "table", testId }: Props<T>) {
  if (rows.length === 0) return <p className="muted">{empty}</p>;
  const shown = columns.filter((c): c is Column<T> => c !== false);
  return (
    <table className={className} data-testid={testId}>
      <thead>
        <tr>
          {shown.map((c, i) => (
            <th key={i}>{c.head}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)} {...row?.(r)}>
            {shown.map((c, i) => (
              <td key={i} {...c.td?.(r)}>
                {c.cell(r)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The row's state as a badge. */
export function statusColumn<T extends { status: string }>(head = "Status"): Column<T> {
  return { head, cell: (r) => <StatusBadge status={r.status} /> };
}

interface Timed {
  status: string;
  started_time?: string | null;
  finished_time?: string | null;
}

/**
 * How long each row took, or has taken so far: the clock ticks while a row
 * is `going` (a hook: call it on every render, before any early return).
 */
export function useDurationColumn<T extends Timed>(
  rows: T[],
  head: string,
  going: (status: T["status"]) => boolean = (s) => s === "STARTED",
): Column<T> {
  const now = useNow(rows.some((r) => going(r.status)));
  return { head, cell: (r) => durationOf(r.started_time, r.finished_time, now) };
}
