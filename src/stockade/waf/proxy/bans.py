"""Banned client addresses, shared between worker processes.

A ban is an address and the time it ends. Each worker keeps its own table (a lookup per
request, no locks); a worker that bans someone tells the others through a datagram socket
pair per worker, made by the supervisor before it forks, so a client banned by one worker
is refused by all of them within a loop turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import OrderedDict
from typing import Final

__all__ = ["BanBus", "BanList"]

MAX_BANS: Final = 100_000


class BanList:
    """Address → end of ban (``time.time()`` seconds); bounded, oldest bans dropped first."""

    def __init__(self, capacity: int = MAX_BANS) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()
        self.capacity = capacity
        self.bus: BanBus | None = None

    def __len__(self) -> int:
        return len(self._until)

    def ban(self, address: str, until: float, *, announce: bool = True) -> None:
        if until <= self._until.get(address, 0.0):
            return
        self._until[address] = until
        self._until.move_to_end(address)
        while len(self._until) > self.capacity:
            self._until.popitem(last=False)
        if announce and self.bus is not None:
            self.bus.announce(address, until)

    def banned(self, address: str, now: float) -> bool:
        until = self._until.get(address)
        if until is None:
            return False
        if until <= now:
            del self._until[address]
            return False
        return True


class BanBus:
    """One datagram socket pair per worker: worker ``i`` reads ``pairs[i][1]``, the others
    write to ``pairs[i][0]``."""

    def __init__(self, workers: int) -> None:
        self.pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(workers)]
        for writer, reader in self.pairs:
            writer.setblocking(False)
            reader.setblocking(False)
        self.index = -1
        self._bans: BanList | None = None

    def attach(self, index: int, bans: BanList, loop: asyncio.AbstractEventLoop) -> None:
        """Called in worker ``index`` once its loop runs."""
        self.index = index
        self._bans = bans
        bans.bus = self
        loop.add_reader(self.pairs[index][1].fileno(), self._receive)

    def announce(self, address: str, until: float) -> None:
        message = f"{address} {until!r}".encode("ascii", "replace")
        for index, (writer, _) in enumerate(self.pairs):
            if index == self.index:
                continue
            with contextlib.suppress(OSError):  # a full queue or a dead sibling
                writer.send(message)

    def _receive(self) -> None:
        reader = self.pairs[self.index][1]
        while True:
            try:
                message = reader.recv(256)
            except (BlockingIOError, InterruptedError):
                return
            address, _, until = message.decode("ascii", "replace").partition(" ")
            try:
                end = float(until)
            except ValueError:
                continue
            if self._bans is not None:
                self._bans.ban(address, end, announce=False)

    def close(self) -> None:
        for writer, reader in self.pairs:
            writer.close()
            reader.close()
