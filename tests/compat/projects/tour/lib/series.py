"""Helpers of the project, imported by its steps (from the project's root)."""


def series(rows, scale):
    return [scale * i for i in range(1, rows + 1)]


def total(values):
    return sum(values)
