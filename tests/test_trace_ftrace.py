"""The events pass's filters: the sched events that name the command, and nothing that changes a filter's meaning."""

from __future__ import annotations

import pytest

from sorto.trace import ftrace


def test_filters_name_the_command() -> None:
    assert ftrace.comm_of("/usr/bin/cyclictest") == "cyclictest"
    assert ftrace.comm_of("/opt/a-program-with-a-long-name") == "a-program-with-"  # 15 characters
    f = ftrace.event_filters("cyclictest")
    assert f == {"sched/sched_switch": 'prev_comm == "cyclictest" || next_comm == "cyclictest"',
                 "sched/sched_wakeup": 'comm == "cyclictest"'}
    events = next(p for p in ftrace.passes([], "cyclictest") if p.name == "events")
    # each filter written with the shell's quoting, after the events are enabled
    assert ("echo 'prev_comm == \"cyclictest\" || next_comm == \"cyclictest\"' > "
            "/sys/kernel/tracing/events/sched/sched_switch/filter") in events.setup
    assert events.setup.index("sched_switch/enable") < events.setup.index("sched_switch/filter")
    # the reset clears them, so a later pass (or a later trace) is not filtered
    assert "echo 0 > /sys/kernel/tracing/events/sched/sched_switch/filter" in ftrace.reset_line(256)


@pytest.mark.parametrize("name", ['a"b', "a\\b", "x*", "x?", "[x]", "a b", "", "a||b"])
def test_names_that_would_change_a_filter_are_not_filtered(name: str) -> None:
    # A quote would end the string, a glob character would match other tasks: no filter at all.
    assert ftrace.event_filters(name) == {}
    events = next(p for p in ftrace.passes([], name) if p.name == "events")
    assert "/filter" not in events.setup
