"""The pid window of an attempt (``executor/pid_window.py``): which pids can
have been handed out since its leader started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchest_step_runner.executor.pid_window import (
    PROBE_SPAN,
    RESERVED_PIDS,
    Counters,
    PidWindow,
    candidates,
    cursor_travel,
    in_window,
    new_pids,
    read_counters,
)


def test_pids_after_the_leader_up_to_the_last_given() -> None:
    assert [pid for pid in range(95, 110) if in_window(pid, 100, 104)] == [101, 102, 103, 104]


def test_a_wrapped_cycle_keeps_the_pids_after_the_leader_and_from_the_start() -> None:
    # The leader got 32760; the cycle wrapped to 300 and has reached 305.
    pids = [299, 300, 305, 306, 32759, 32760, 32761, 32767]
    assert [pid for pid in pids if in_window(pid, 32760, 305)] == [299, 300, 305, 32761, 32767]


def test_the_cursor_moves_at_most_twice_the_created_plus_the_alive() -> None:
    assert cursor_travel(Counters(1000, 600), Counters(1010, 590)) == 2 * 10 + 600


def test_unknown_when_the_cycle_may_have_come_round() -> None:
    window = PidWindow(Counters(created=0, alive=600), leader=1000)
    pid_max = 32768
    created = (pid_max - RESERVED_PIDS - 600) // 2
    listed = [999, 1001, 5000]
    assert candidates(window, Counters(created - 1, 600), 5000, pid_max, listed) == [1001, 5000]
    assert candidates(window, Counters(created, 600), 5000, pid_max, listed) is None


def test_this_host_has_a_window() -> None:
    before = read_counters()
    assert before is not None
    window = PidWindow(before, leader=1)
    found = new_pids(window)
    assert found is not None and 1 not in found


def test_no_window_reads_every_process() -> None:
    assert new_pids(None) is None


def test_a_narrow_window_is_looked_up_pid_by_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without listing ``/proc`` (every process of the host): the live
    processes started after the leader are found, the ended ones are not."""
    listings: list[str] = []
    real_listdir = os.listdir

    def listdir(path: Any = ".") -> list[str]:
        listings.append(str(path))
        return real_listdir(path)

    for _ in range(5):  # a busy host may hand out more than PROBE_SPAN pids meanwhile
        before = read_counters()
        assert before is not None
        with subprocess.Popen(["sleep", "30"]) as leader:
            ended = subprocess.Popen(["true"])
            ended.wait()
            with subprocess.Popen(["sleep", "30"]) as child:
                monkeypatch.setattr(os, "listdir", listdir)
                found = new_pids(PidWindow(before, leader.pid))
                monkeypatch.setattr(os, "listdir", real_listdir)
                child.kill()
            leader.kill()
        last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
        if last - leader.pid <= PROBE_SPAN:
            break
        listings.clear()
    assert found is not None and child.pid in found
    assert leader.pid not in found and ended.pid not in found
    assert "/proc" not in listings
