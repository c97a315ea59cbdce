"""Clean: drop the broken readings of data/raw.csv and write data/clean.csv.

A row is dropped when its temperature is missing or implausible, or when its
visitors or sales are not a non-negative number. Parameters come from
ORCHEST_PARAMETERS (the pipeline's parameters overridden by this step's).
"""

import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

DEFAULTS = {"min_temperature_c": -30.0, "max_temperature_c": 50.0}
COLUMNS = ["day", "temperature_c", "is_weekend", "promo", "visitors", "sales_eur"]


def load_parameters() -> dict:
    params = dict(DEFAULTS)
    raw = os.environ.get("ORCHEST_PARAMETERS", "").strip()
    if raw:
        given = json.loads(raw)
        if not isinstance(given, dict):
            sys.exit(f"error: ORCHEST_PARAMETERS must be a JSON object, got {raw!r}")
        params.update(given)
    return params


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def problem(row: dict, low: float, high: float) -> str | None:
    """Why the row is unusable, or None when it is fine."""
    temperature = number(row["temperature_c"])
    if temperature is None:
        return "missing temperature"
    if not low <= temperature <= high:
        return "implausible temperature"
    visitors = number(row["visitors"])
    if visitors is None or visitors < 0:
        return "invalid visitors"
    sales = number(row["sales_eur"])
    if sales is None or sales < 0:
        return "invalid sales"
    return None


def main() -> None:
    params = load_parameters()
    low = float(params["min_temperature_c"])
    high = float(params["max_temperature_c"])
    project_dir = Path(os.environ.get("ORCHEST_PROJECT_DIR") or Path.cwd())
    raw_path = project_dir / "data" / "raw.csv"
    clean_path = project_dir / "data" / "clean.csv"
    if not raw_path.is_file():
        sys.exit(f"error: {raw_path} not found - run the 'Get data' step first")

    with raw_path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {raw_path} lacks the columns {missing}")
        rows = list(reader)
    if not rows:
        sys.exit(f"error: {raw_path} has no data rows")

    kept, dropped = [], Counter()
    for row in rows:
        reason = problem(row, low, high)
        if reason is None:
            kept.append({c: row[c] for c in COLUMNS})
        else:
            dropped[reason] += 1
    if not kept:
        sys.exit("error: every row was dropped, nothing left to train on")

    with clean_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)

    print(f"Read {len(rows)} rows from {raw_path.name} (temperature range {low}..{high} C)")
    for reason, count in sorted(dropped.items()):
        print(f"  dropped {count:3d} rows: {reason}")
    print(f"Kept {len(kept)} rows ({len(kept) / len(rows):.1%}) -> {clean_path}")


if __name__ == "__main__":
    main()
