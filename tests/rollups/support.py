"""What the rollup tests share."""

import pytest


def counter_mismatches(actual: tuple[dict, dict], expected: tuple[dict, dict]) -> list:
    """Every (table, key, column, actual, expected) that differs beyond float noise; a missing
    row or column is zero (read_all leaves zeros out, and +x−x may leave 1e-12 behind)."""
    wrong = []
    for table, got, want in (("totals", actual[0], expected[0]), ("days", actual[1], expected[1])):
        for key in got.keys() | want.keys():
            row_got, row_want = got.get(key, {}), want.get(key, {})
            for column in row_got.keys() | row_want.keys():
                a, e = row_got.get(column, 0), row_want.get(column, 0)
                if a != pytest.approx(e, rel=1e-9, abs=1e-6):
                    wrong.append((table, key, column, a, e))
    return sorted(wrong, key=str)
