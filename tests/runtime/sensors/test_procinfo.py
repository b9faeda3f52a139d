"""Reading a process from /proc: whether the tracker's record of a process is from
before an exec it has not handled yet."""

from __future__ import annotations

import os
import sys

from stockade.runtime.events import HOST, Process
from stockade.runtime.sensors.procinfo import runs_other_program


def test_a_record_from_before_an_exec_is_told_apart() -> None:
    python = os.path.realpath(sys.executable)
    me = Process(pid=os.getpid(), name="python", exe=sys.executable, exepath=python, container=HOST)
    assert not runs_other_program(me)
    forked = Process(pid=os.getpid(), name="timeout", exepath="/usr/bin/timeout", container=HOST)
    assert runs_other_program(forked)
    gone = Process(pid=2**22 + 1, name="x", exepath="/usr/bin/x", container=HOST)
    assert not runs_other_program(gone)  # gone: nothing to say
