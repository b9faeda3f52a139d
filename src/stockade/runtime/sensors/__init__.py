"""Sensors: what happens on the host, from the kernel, as plain records.

Each sensor is a small loop over one kernel interface; it never judges what it sees.
:mod:`.procconn` reads process exec/fork/exit from the proc connector,
:mod:`.procinfo` reads what ``/proc`` says about a process at once (processes vanish),
:mod:`.containers` names the container a process runs in from its cgroup.
"""
