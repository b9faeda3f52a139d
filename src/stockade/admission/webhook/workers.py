"""Policy evaluation in worker processes, each call with a deadline it cannot overstay.

Gatekeeper's Rego is evaluated by a C++ library that Python cannot interrupt: a
constraint that loops would hold a thread (and the GIL's goodwill) for ever. So each
evaluation runs in a child process, and a child that misses its deadline is killed
(SIGKILL) and replaced, while the request is answered at once by the failure policy.

:class:`WorkerPool` keeps ``size`` children, each built once by a picklable factory
(``functools.partial(gatekeeper_evaluator, paths, inventory)``: the child loads the
templates, constraints and inventory itself, so they never cross the pipe). Children
are started with ``spawn``: the server has threads, and ``fork`` would copy their locks
mid-use.

Calls block a thread of the pool's own executor, never the event loop:
:meth:`WorkerPool.evaluate` is a coroutine that waits for an idle child, sends the job,
and waits for the answer, all within one deadline.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

from stockade.admission.webhook.errors import EvaluationFailed, EvaluationTimeout
from stockade.core.errors import StockadeError

__all__ = [
    "Evaluator",
    "EvaluatorFactory",
    "PolicyViolation",
    "WorkerPool",
    "gatekeeper_evaluator",
    "gatekeeper_factory",
]

Evaluator = Callable[[Any], Any]
EvaluatorFactory = Callable[[], Evaluator]
"""Builds an evaluator in the child; must be picklable (a module-level function or a
``functools.partial`` of one)."""

_KILL_WAIT: Final = 2.0


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """A Gatekeeper violation as it crosses the pipe: plain values, picklable anywhere."""

    constraint_kind: str
    constraint_name: str
    message: str
    enforcement_action: str


def gatekeeper_evaluator(paths: tuple[str, ...], inventory: tuple[str, ...] = ()) -> Evaluator:
    """Build a Gatekeeper engine from ``paths`` (run in the child) and return its review.

    ``inventory`` names files or folders of Kubernetes objects (YAML or JSON, several
    documents a file), loaded as the engine's ``data.inventory``: what Gatekeeper's
    sync would have cached from the cluster.
    """
    from stockade.admission.gatekeeper import GatekeeperEngine
    from stockade.admission.gatekeeper.loader import load_file, policy_files

    engine = GatekeeperEngine.from_paths(Path(p) for p in paths)
    if inventory:
        engine.set_inventory(
            obj for file in policy_files(Path(p) for p in inventory) for obj in load_file(file)
        )

    def review(request: Any) -> list[PolicyViolation]:
        return [
            PolicyViolation(
                str(v.constraint_kind),
                str(v.constraint_name),
                str(v.message),
                str(v.enforcement_action),
            )
            for v in engine.review(request, namespace=None)
        ]

    return review


def gatekeeper_factory(paths: Iterable[Path], inventory: Iterable[Path] = ()) -> EvaluatorFactory:
    """The factory for :class:`WorkerPool` that builds a Gatekeeper engine from ``paths``,
    with the objects under ``inventory`` as ``data.inventory``."""
    return functools.partial(
        gatekeeper_evaluator,
        tuple(str(p) for p in paths),
        tuple(str(p) for p in inventory),
    )


def _child(conn: multiprocessing.connection.Connection, factory: EvaluatorFactory) -> None:
    """The worker process: build the evaluator once, then answer jobs until EOF."""
    # Ctrl-C goes to the whole process group; the parent decides when children end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        evaluate = factory()
    except StockadeError as exc:
        conn.send(("failed", exc.diagnostics()))
        return
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", evaluate(job)))
        except StockadeError as exc:
            conn.send(("error", exc.message))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, process: BaseProcess, conn: multiprocessing.connection.Connection) -> None:
        self.process = process
        self.conn = conn

    def call(self, job: Any, timeout: float) -> Any:
        """Send ``job`` and wait up to ``timeout`` s for the answer (blocking)."""
        try:
            self.conn.send(job)
            if not self.conn.poll(max(timeout, 0.0)):
                raise EvaluationTimeout(f"policy evaluation timed out after {timeout:.1f}s")
            status, value = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise EvaluationFailed("the policy worker died during evaluation") from exc
        if status == "ok":
            return value
        raise _Failure(str(value))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_KILL_WAIT)
        self.conn.close()


class _Failure(EvaluationFailed):
    """The evaluator raised: the worker itself is fine and goes back to the pool."""


class WorkerPool:
    """``size`` worker processes answering evaluation jobs with a deadline per call."""

    def __init__(
        self,
        factory: EvaluatorFactory,
        size: int = 2,
        *,
        start_timeout: float = 120.0,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._factory = factory
        self._size = size
        self._start_timeout = start_timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._closed = False
        # Threads wait on pipes; more of them than workers lets queued calls notice
        # their deadline passed instead of piling up behind a stuck child.
        self._executor = ThreadPoolExecutor(
            max_workers=size * 4 + 4, thread_name_prefix="stockade-policy"
        )
        self.restarts = 0
        self.timeouts = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def alive(self) -> int:
        """Workers started and ready (idle or busy), not counting replacements on the way."""
        with self._lock:
            return sum(1 for w in self._workers if w.process.is_alive())

    def start(self) -> None:
        """Start every worker and wait until each has built its evaluator (blocking).

        Raises EvaluationFailed when a worker cannot build it (a broken policy): the
        first worker's error, since every worker would hit the same.
        """
        started = [self._spawn() for _ in range(self._size)]
        try:
            for worker in started:
                self._await_ready(worker)
        except BaseException:
            for worker in started:
                worker.kill()
            raise
        with self._lock:
            self._workers.update(started)
        for worker in started:
            self._idle.put(worker)

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_child, args=(child, self._factory), name="stockade-policy", daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _await_ready(self, worker: _Worker) -> None:
        if not worker.conn.poll(self._start_timeout):
            raise EvaluationFailed(
                f"a policy worker did not start within {self._start_timeout:.0f}s"
            )
        try:
            status, detail = worker.conn.recv()
        except (EOFError, OSError) as exc:
            raise EvaluationFailed("a policy worker exited while loading the policy") from exc
        if status != "ready":
            raise EvaluationFailed(f"cannot load the policy: {detail}")

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another in its place (in a background thread)."""
        with self._lock:
            self._workers.discard(worker)
            self.restarts += 1
        worker.kill()

        def start_one() -> None:
            while not self._closed:
                fresh = self._spawn()
                try:
                    self._await_ready(fresh)
                except EvaluationFailed:
                    fresh.kill()
                    time.sleep(1.0)  # the policy loaded before; retry, never spin
                    continue
                with self._lock:
                    if self._closed:
                        fresh.kill()
                        return
                    self._workers.add(fresh)
                self._idle.put(fresh)
                return

        threading.Thread(target=start_one, name="stockade-policy-restart", daemon=True).start()

    def call(self, job: Any, deadline: float) -> Any:
        """Evaluate ``job`` in a worker, finishing by ``deadline`` (``time.monotonic()``).

        Blocking. Raises EvaluationTimeout when no worker was free in time or the worker
        overran (it is then killed and replaced), EvaluationFailed when the evaluator
        raised or the worker died.
        """
        remaining = deadline - time.monotonic()
        try:
            worker = self._idle.get(timeout=max(remaining, 0.001))
        except queue.Empty:
            with self._lock:
                self.timeouts += 1
            raise EvaluationTimeout("no policy worker was free before the deadline") from None
        try:
            result = worker.call(job, deadline - time.monotonic())
        except _Failure:
            self._idle.put(worker)
            raise
        except EvaluationTimeout:
            with self._lock:
                self.timeouts += 1
            self._replace(worker)
            raise
        except EvaluationFailed:
            self._replace(worker)
            raise
        self._idle.put(worker)
        return result

    async def evaluate(self, job: Any, deadline: float) -> Any:
        """:meth:`call` from the event loop, on the pool's own threads."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self.call, job, deadline)
        # The call keeps its own deadline; the margin covers killing a stuck worker.
        try:
            return await asyncio.wait_for(future, max(deadline - time.monotonic(), 0) + 0.5)
        except TimeoutError:
            raise EvaluationTimeout("policy evaluation timed out") from None

    def close(self) -> None:
        """Stop every worker. Calls in flight fail; the pool cannot be restarted."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            worker.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
