"""Train: fit a linear regression of daily sales in pure Python.

Joins data/clean.csv (from "Clean") with data/features.csv (from "Features")
on the day, holds out the last `test_fraction` of the days, solves the normal
equations in closed form and writes data/model.json. Parameters come from
ORCHEST_PARAMETERS (the pipeline's parameters overridden by this step's).
"""

import csv
import json
import os
import sys
from pathlib import Path

DEFAULTS = {"test_fraction": 0.2}
FEATURES = ["temperature_c", "is_weekend", "promo", "sales_ma"]
TARGET = "sales_eur"


def load_parameters() -> dict:
    params = dict(DEFAULTS)
    raw = os.environ.get("ORCHEST_PARAMETERS", "").strip()
    if raw:
        given = json.loads(raw)
        if not isinstance(given, dict):
            sys.exit(f"error: ORCHEST_PARAMETERS must be a JSON object, got {raw!r}")
        params.update(given)
    return params


def read_csv(path: Path, step: str) -> list[dict]:
    if not path.is_file():
        sys.exit(f"error: {path} not found - run the '{step}' step first")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"error: {path} has no data rows")
    return rows


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[pivot][c]) < 1e-12:
            sys.exit(f"error: the features are collinear (column {c}), cannot fit")
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(c + 1, n):
            factor = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= factor * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def fit(xs: list[list[float]], ys: list[float]) -> list[float]:
    """Ordinary least squares: beta = (X'X)^-1 X'y, X with a leading column of ones."""
    design = [[1.0, *x] for x in xs]
    p = len(design[0])
    xtx = [[sum(row[i] * row[j] for row in design) for j in range(p)] for i in range(p)]
    xty = [sum(row[i] * y for row, y in zip(design, ys, strict=True)) for i in range(p)]
    return solve(xtx, xty)


def predict(beta: list[float], x: list[float]) -> float:
    return beta[0] + sum(b * v for b, v in zip(beta[1:], x, strict=True))


def metrics(beta: list[float], xs: list[list[float]], ys: list[float]) -> dict:
    errors = [y - predict(beta, x) for x, y in zip(xs, ys, strict=True)]
    mean_y = sum(ys) / len(ys)
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum(e * e for e in errors)
    return {
        "r2": round(1 - residual / total, 4) if total else None,
        "mae_eur": round(sum(abs(e) for e in errors) / len(errors), 2),
        "rmse_eur": round((residual / len(errors)) ** 0.5, 2),
    }


def main() -> None:
    params = load_parameters()
    test_fraction = float(params["test_fraction"])
    if not 0 < test_fraction < 1:
        sys.exit(f"error: test_fraction must be between 0 and 1, got {test_fraction}")
    project_dir = Path(os.environ.get("ORCHEST_PROJECT_DIR") or Path.cwd())
    data_dir = project_dir / "data"
    clean = read_csv(data_dir / "clean.csv", "Clean")
    features = {row["day"]: row for row in read_csv(data_dir / "features.csv", "Features")}

    xs, ys, days = [], [], []
    for row in sorted(clean, key=lambda r: r["day"]):
        extra = features.get(row["day"])
        if extra is None or extra["sales_ma"] == "":
            continue  # the first days have no history for the moving average
        merged = {**row, **extra}
        xs.append([float(merged[name]) for name in FEATURES])
        ys.append(float(row[TARGET]))
        days.append(row["day"])

    n_test = max(1, round(len(xs) * test_fraction))
    n_train = len(xs) - n_test
    if n_train < 2 * (len(FEATURES) + 1):
        sys.exit(f"error: only {n_train} training rows, too few for {len(FEATURES)} features")
    print(
        f"Joined {len(xs)} days with features: train {days[0]}..{days[n_train - 1]} "
        f"({n_train}), test {days[n_train]}..{days[-1]} ({n_test})"
    )

    beta = fit(xs[:n_train], ys[:n_train])
    train_metrics = metrics(beta, xs[:n_train], ys[:n_train])
    test_metrics = metrics(beta, xs[n_train:], ys[n_train:])

    print(f"  {'intercept':>14s} {beta[0]:9.3f}")
    for name, b in zip(FEATURES, beta[1:], strict=True):
        print(f"  {name:>14s} {b:9.3f}")
    print(f"Train: R2 {train_metrics['r2']}, MAE {train_metrics['mae_eur']} EUR")
    print(f"Test:  R2 {test_metrics['r2']}, MAE {test_metrics['mae_eur']} EUR")

    model = {
        "target": TARGET,
        "features": FEATURES,
        "intercept": round(beta[0], 6),
        "coefficients": {name: round(b, 6) for name, b in zip(FEATURES, beta[1:], strict=True)},
        "n_train": n_train,
        "n_test": n_test,
        "train": train_metrics,
        "test": test_metrics,
        "parameters": params,
    }
    out = data_dir / "model.json"
    out.write_text(json.dumps(model, indent=2) + "\n")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
