"""Worker processes with deadlines: real children that really spin, crash and fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.admission.webhook.support import pod, review, review_for_object

from stockade.admission.gatekeeper.loader import load_file
from stockade.admission.webhook.errors import EvaluationFailed, EvaluationTimeout
from stockade.admission.webhook.testing import ANNOTATION_PREFIX, scripted_factory
from stockade.admission.webhook.workers import PolicyViolation, WorkerPool, gatekeeper_factory

pytestmark = pytest.mark.slow


def job(**annotations: str) -> dict:  # type: ignore[type-arg]
    obj = pod(annotations={ANNOTATION_PREFIX + k: v for k, v in annotations.items()})
    return review(obj)["request"]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(scripted_factory(), size=1) as started:
        yield started


def wait_until_ready(pool: WorkerPool, restarts: int) -> None:
    end = time.monotonic() + 30
    while pool.restarts < restarts or pool.alive < pool.size:
        assert time.monotonic() < end, "the worker was not replaced"
        time.sleep(0.02)


def test_a_worker_answers(pool: WorkerPool) -> None:
    result = pool.call(job(violation="deny:K8sX:c1:bad"), time.monotonic() + 5)
    assert result == [PolicyViolation("K8sX", "c1", "bad", "deny")]


def test_a_spinning_worker_is_killed_at_the_deadline_and_replaced(pool: WorkerPool) -> None:
    before = pool.restarts
    (worker_pid,) = [w.process.pid for w in pool._workers]
    started = time.monotonic()
    with pytest.raises(EvaluationTimeout):
        pool.call(job(spin="forever"), started + 0.5)
    elapsed = time.monotonic() - started
    assert 0.45 < elapsed < 1.5
    wait_until_ready(pool, before + 1)
    assert [w.process.pid for w in pool._workers] != [worker_pid]
    # the new worker answers
    assert pool.call(job(), time.monotonic() + 5) == []


def test_a_slow_but_finishing_evaluation_is_not_killed(pool: WorkerPool) -> None:
    before = pool.restarts
    assert pool.call(job(spin="0.3"), time.monotonic() + 5) == []
    assert pool.restarts == before


def test_an_evaluator_error_keeps_the_worker(pool: WorkerPool) -> None:
    before = pool.restarts
    with pytest.raises(EvaluationFailed, match="ValueError"):
        pool.call(job(violation="not-enough-fields"), time.monotonic() + 5)
    assert pool.restarts == before
    assert pool.call(job(), time.monotonic() + 5) == []


def test_a_crashed_worker_is_replaced(pool: WorkerPool) -> None:
    before = pool.restarts
    with pytest.raises(EvaluationFailed, match="died"):
        pool.call(job(crash="yes"), time.monotonic() + 5)
    wait_until_ready(pool, before + 1)
    assert pool.call(job(), time.monotonic() + 5) == []


def test_with_no_free_worker_a_call_times_out_at_its_deadline() -> None:
    with WorkerPool(scripted_factory(), size=1) as small:
        import threading

        def hold_the_worker() -> None:
            with pytest.raises(EvaluationTimeout):
                small.call(job(spin="forever"), time.monotonic() + 1.0)

        blocker = threading.Thread(target=hold_the_worker)
        blocker.start()
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(EvaluationTimeout, match="no policy worker was free"):
            small.call(job(), started + 0.3)
        assert time.monotonic() - started < 0.8
        blocker.join()


def test_a_policy_that_cannot_load_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text("apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nspec: 7\n")
    pool = WorkerPool(gatekeeper_factory([broken]), size=1)
    with pytest.raises(EvaluationFailed, match="cannot load the policy"):
        pool.start()
    assert pool.alive == 0


def test_the_inventory_is_the_engines_data_inventory() -> None:
    library = Path(__file__).resolve().parents[2] / "data/admission/gatekeeper-library/library"
    folder = library / "general/uniqueserviceselector"
    samples = folder / "samples/unique-service-selector"
    policy = [folder / "template.yaml", samples / "constraint.yaml"]
    (service,) = load_file(samples / "example_disallowed.yaml")
    job = review_for_object(service)["request"]
    deadline = time.monotonic() + 60
    with WorkerPool(gatekeeper_factory(policy), size=1) as without:
        assert without.call(job, deadline) == []
    # The inventory holds a Service with the same selector: now it is a duplicate.
    inventory = [samples / "example_inventory_disallowed.yaml"]
    with WorkerPool(gatekeeper_factory(policy, inventory), size=1) as with_inventory:
        (violation,) = with_inventory.call(job, deadline)
    assert violation.constraint_kind == "K8sUniqueServiceSelector"
    assert "same selector as service" in violation.message


def test_an_unreadable_inventory_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "inventory.yaml"
    broken.write_text("- just\n- a list\n")
    pool = WorkerPool(gatekeeper_factory([], [broken]), size=1)
    with pytest.raises(EvaluationFailed, match=r"cannot load the policy: .*inventory.yaml"):
        pool.start()
