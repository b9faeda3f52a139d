"""The outbox on SQLite and PostgreSQL: routing by rules, aggregation, retries with
backoff, giving up, restarts, and several workers sharing one database. Messages go to
a real HTTP receiver on 127.0.0.1; time is a clock the tests move."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from stockade.console import alerts
from stockade.console.alerts.outbox import (
    RetryPolicy,
    claim_due,
    prune_deliveries,
    retry_delivery,
    route_event,
)
from stockade.console.alerts.sealing import SecretBox
from stockade.console.alerts.testing import HttpReceiver, wait_until
from stockade.console.alerts.worker import AlertSettings, DeliveryWorker
from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.events import ConsoleEvent
from stockade.console.store.engine import Store
from stockade.console.store.models import (
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertRuleChannel,
)

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += dt.timedelta(seconds=seconds)


def _settings(**retry: Any) -> AlertSettings:
    policy = {"base_seconds": 1.0, "factor": 2.0, "cap_seconds": 60.0, "max_attempts": 5}
    policy.update(retry)
    return AlertSettings(
        poll_seconds=0.02,
        send_timeout_seconds=5,
        retry=RetryPolicy(jitter=0, **policy),
        samples=5,
    )


def add_channel(store: Store, box: SecretBox, name: str, url: str, *, enabled: bool = True) -> int:
    with store.write() as session:
        channel = AlertChannel(
            name=name,
            kind="webhook",
            enabled=enabled,
            config={},
            secrets={"url": box.seal(url)},
            created_by="test",
            created_at=START,
            updated_at=START,
        )
        session.add(channel)
        session.flush()
        return channel.id


def add_rule(
    store: Store,
    name: str,
    channels: list[int],
    *,
    kinds: tuple[str, ...] = ("*",),
    min_severity: str = "info",
    labels: dict[str, str] | None = None,
    aggregate_seconds: int = 0,
    enabled: bool = True,
) -> int:
    with store.write() as session:
        rule = AlertRule(
            name=name,
            enabled=enabled,
            kinds=list(kinds),
            min_severity=min_severity,
            labels=labels or {},
            aggregate_seconds=aggregate_seconds,
            created_by="test",
            created_at=START,
            updated_at=START,
        )
        session.add(rule)
        session.flush()
        for channel_id in channels:
            session.add(AlertRuleChannel(rule_id=rule.id, channel_id=channel_id))
        return rule.id


def event(
    kind: str = "policy.vulnerabilities.block",
    severity: str = "high",
    at: dt.datetime = START,
    n: int = 0,
    **labels: str,
) -> ConsoleEvent:
    return ConsoleEvent(
        kind=kind,
        severity=severity,
        title=f"event {n}",
        subject=f"registry.example/app:{n}",
        at=at,
        detail={"n": n},
        labels=labels,
    )


def deliveries(store: Store) -> list[AlertDelivery]:
    with store.read() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def _worker(
    box: SecretBox, store: Store, settings: AlertSettings, clock: FakeClock, **kwargs: Any
) -> DeliveryWorker:
    return DeliveryWorker(store, settings, clock, box=box, **kwargs)


@pytest.fixture
def box(config: ConsoleConfig) -> SecretBox:
    return SecretBox(config.data_dir)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


def test_events_reach_the_outbox_through_the_console_event_bus(
    store: Store, box: SecretBox, config: ConsoleConfig, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    hooks, prod, kube = (
        add_channel(store, box, name, receiver.url(f"/{name}"))
        for name in ("hooks", "prod", "kube")
    )
    off = add_channel(store, box, "off", receiver.url("/off"), enabled=False)
    add_rule(
        store,
        "prod-blocks",
        [prod],
        kinds=("policy.*.block",),
        min_severity="high",
        labels={"namespace": "prod"},
    )
    add_rule(
        store, "incidents", [hooks, prod], kinds=("runtime.incident",), min_severity="critical"
    )
    add_rule(
        store,
        "registry",
        [kube, off],
        kinds=("registry.*",),
        labels={"image": "registry.example/*", "namespace": "!kube-*"},
    )
    add_rule(store, "everything-but-off", [hooks], enabled=False)
    context = ConsoleContext(config=config, store=store, clock=clock)
    alerts.install(context, _settings())
    alerts.install(context, _settings())  # a second call changes nothing
    assert sum(isinstance(x, alerts.AlertListener) for x in context.event_listeners) == 1
    for e in (
        event("policy.vulnerabilities.block", "high", namespace="prod"),  # prod-blocks
        event("policy.compliance.block", "medium", namespace="prod"),  # too mild
        event("policy.vulnerabilities.block", "critical", namespace="dev"),  # not prod
        event("policy.vulnerabilities.alert", "critical", namespace="prod"),  # not a block
        event("runtime.incident", "critical", host="node-1"),  # incidents, twice
        event("runtime.incident", "high"),  # too mild
        event("registry.scan.failed", "low", image="registry.example/x", namespace="ci"),
        event("registry.scan.failed", "low", image="registry.example/x", namespace="kube-system"),
        event("registry.scan.failed", "low", image="docker.io/x", namespace="ci"),
    ):
        context.emit(e)
    with store.read() as session:
        names = {i: n for i, n in session.execute(select(AlertChannel.id, AlertChannel.name))}
    routed = sorted((d.rule_name, names[d.channel_id], d.event_count) for d in deliveries(store))
    assert routed == [
        ("incidents", "hooks", 1),
        ("incidents", "prod", 1),
        ("prod-blocks", "prod", 1),
        ("registry", "kube", 1),
    ]
    assert all(d.status == "collecting" for d in deliveries(store))


def test_a_storm_becomes_one_message_per_interval(
    store: Store, box: SecretBox, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    channel = add_channel(store, box, "hook", receiver.url())
    add_rule(store, "storm", [channel], aggregate_seconds=60)
    worker = _worker(box, store, _settings(), clock)
    for n in range(100):
        kind = "policy.vulnerabilities.block" if n % 4 else "policy.compliance.block"
        severity = "critical" if n == 50 else "medium"
        route_event(store, event(kind, severity, at=clock(), n=n), clock(), samples=5)
        clock.advance(0.5)
    assert worker.run_once() == 0  # the interval has not ended
    assert receiver.requests == []
    clock.advance(10)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    [request] = receiver.requests
    body = request.json()
    assert body["count"] == 100
    assert body["omitted"] == 95
    assert [e["title"] for e in body["events"]] == [f"event {n}" for n in range(5)]
    assert body["kinds"] == {"policy.vulnerabilities.block": 75, "policy.compliance.block": 25}
    assert body["severity"] == "critical"
    assert body["title"] == "[CRITICAL] 100 alerts from rule storm"
    assert body["firstAt"] == "2026-03-01T09:00:00Z"
    assert body["lastAt"] == "2026-03-01T09:00:49.500000Z"
    # Events after the interval start the next message.
    for n in range(3):
        route_event(store, event(n=n), clock(), samples=5)
    clock.advance(61)
    assert worker.run_once() == 1
    assert receiver.requests[1].json()["count"] == 3
    assert [d.status for d in deliveries(store)] == ["delivered", "delivered"]


def test_failed_sends_are_retried_with_exponential_backoff(store: Store, box: SecretBox) -> None:
    clock = FakeClock()
    with HttpReceiver(fail_first=2) as receiver:
        channel = add_channel(store, box, "hook", receiver.url())
        add_rule(store, "now", [channel])
        worker = _worker(box, store, _settings(base_seconds=1, factor=2), clock)
        route_event(store, event(), clock(), samples=5)
        assert worker.run_once() == 1  # attempt 1: HTTP 500
        [row] = deliveries(store)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error is not None
        assert row.last_error.startswith("HTTP 500")
        assert row.due_at == clock() + dt.timedelta(seconds=1)
        assert worker.run_once() == 0
        clock.advance(0.99)
        assert worker.run_once() == 0
        clock.advance(0.01)
        assert worker.run_once() == 1  # attempt 2: HTTP 500 again, then wait 2 s
        [row] = deliveries(store)
        assert row.due_at == clock() + dt.timedelta(seconds=2)
        clock.advance(1.9)
        assert worker.run_once() == 0
        clock.advance(0.1)
        assert worker.run_once() == 1  # attempt 3: delivered
    [row] = deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    assert row.delivered_at == clock()
    ids = {r.headers["x-stockade-delivery"] for r in receiver.requests}
    assert receiver.answered == [500, 500, 200]
    assert ids == {str(row.id)}  # the same message each time: receivers can de-duplicate


def test_a_delivery_is_given_up_after_max_attempts_and_can_be_retried(
    store: Store, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    token = "T222/B222/ZZZZZZZZZZZZZZZZZZZZZZZZ"  # noqa: S105  # a fake token in the URL
    with HttpReceiver(fail_first=3) as receiver:
        channel = add_channel(store, box, "hook", receiver.url(f"/services/{token}"))
        add_rule(store, "now", [channel])
        policy = {"base_seconds": 10, "factor": 10, "cap_seconds": 15, "max_attempts": 3}
        worker = _worker(box, store, _settings(**policy), clock)
        route_event(store, event(), clock(), samples=5)
        delays = []
        for _ in range(3):
            before = clock()
            assert worker.run_once() == 1
            [row] = deliveries(store)
            delays.append((row.due_at - before).total_seconds())
            clock.advance(3600)
        assert delays[:2] == [10, 15]  # 10, then 100 capped at 15
        assert (row.status, row.attempts) == ("failed", 3)
        assert row.last_error is not None
        assert "HTTP 500" in row.last_error
        assert worker.run_once() == 0
        assert len(receiver.requests) == 3
        with store.write() as session:
            retry_delivery(session, row.id, clock())
        assert worker.run_once() == 1
    [row] = deliveries(store)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert receiver.answered == [500, 500, 500, 200]
    assert "failed for good after 3 attempts" in caplog.text
    assert token not in caplog.text


def test_receivers_answers_and_disabled_channels_decide_the_next_step(
    store: Store, box: SecretBox
) -> None:
    """404 will not change: failed at once. 503 with Retry-After: wait that long. A
    channel disabled after events were routed to it: failed, visibly."""
    clock = FakeClock()
    gone = HttpReceiver(fail_first=5, fail_status=404)
    busy = HttpReceiver(fail_first=1, fail_status=503, fail_headers={"Retry-After": "30"})
    with gone, busy, HttpReceiver() as quiet:
        for name, receiver in (("gone", gone), ("busy", busy), ("quiet", quiet)):
            add_rule(store, name, [add_channel(store, box, name, receiver.url())], kinds=(name,))
            route_event(store, event(name), clock(), samples=5)
        with store.write() as session:
            off = session.scalars(select(AlertChannel).where(AlertChannel.name == "quiet")).one()
            off.enabled = False
        assert _worker(box, store, _settings(base_seconds=1), clock).run_once() == 2
        assert quiet.requests == []
    rows = {d.rule_name: d for d in deliveries(store)}
    assert (rows["gone"].status, rows["gone"].attempts) == ("failed", 1)
    assert (rows["gone"].last_error or "").startswith("HTTP 404")
    assert rows["busy"].status == "pending"
    assert rows["busy"].due_at == clock() + dt.timedelta(seconds=30)
    assert (rows["quiet"].status, rows["quiet"].last_error) == ("failed", "the channel is disabled")


def test_undelivered_events_survive_a_restart_and_arrive_exactly_once(
    store: Store, box: SecretBox, config: ConsoleConfig, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    a = add_channel(store, box, "a", receiver.url("/a"))
    b = add_channel(store, box, "b", receiver.url("/b"))
    add_rule(store, "gathered", [a, b], kinds=("policy.*",), aggregate_seconds=30)
    add_rule(store, "at-once", [a], kinds=("runtime.*",))
    first = ConsoleContext(config=config, store=store, clock=clock)
    alerts.install(first, _settings())
    for n in range(10):
        first.emit(event(n=n))
    first.emit(event("runtime.incident", "critical", n=99))
    # The first Console stops (its worker never ran) and a new process opens the store.
    for close in reversed(first.on_close):
        close()
    second_store = Store(store.url)
    try:
        clock.advance(31)
        worker = _worker(box, second_store, _settings(), clock)
        worker.start()
        try:
            assert wait_until(lambda: len(receiver.requests) >= 3)
            # Another round of polling must not send anything again.
            assert not wait_until(lambda: len(receiver.requests) > 3, timeout=0.5)
        finally:
            worker.stop()
        assert not worker.running
    finally:
        second_store.close()
    got = sorted((r.path, r.json()["count"]) for r in receiver.requests)
    assert got == [("/a", 1), ("/a", 10), ("/b", 10)]
    ids = [r.headers["x-stockade-delivery"] for r in receiver.requests]
    assert len(set(ids)) == 3
    assert {d.status for d in deliveries(store)} == {"delivered"}


def test_a_delivery_left_by_a_dead_worker_is_taken_over_after_its_lease(
    store: Store, box: SecretBox, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    channel = add_channel(store, box, "hook", receiver.url())
    add_rule(store, "now", [channel])
    route_event(store, event(), clock(), samples=5)
    lease = dt.timedelta(seconds=60)
    [taken] = claim_due(
        store, owner="dead-worker", now=clock(), lease=lease, limit=10, max_attempts=5
    )
    survivor = _worker(
        box, Store(store.url), AlertSettings(lease_seconds=60, retry=RetryPolicy(jitter=0)), clock
    )
    try:
        clock.advance(59)
        assert survivor.run_once() == 0  # still the dead worker's
        clock.advance(2)
        assert survivor.run_once() == 1
    finally:
        survivor.store.close()
    [row] = deliveries(store)
    assert (row.id, row.status, row.attempts) == (taken.delivery_id, "delivered", 2)
    assert len(receiver.requests) == 1


def test_two_workers_share_one_outbox_and_send_each_message_once(
    store: Store, box: SecretBox, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    channel = add_channel(store, box, "hook", receiver.url())
    add_rule(store, "now", [channel])
    for n in range(40):
        route_event(store, event(n=n), clock(), samples=5)
    assert len(deliveries(store)) == 40
    stores = [Store(store.url), Store(store.url)]
    workers = [_worker(box, s, _settings(), clock, owner=f"w{i}") for i, s in enumerate(stores)]
    try:
        for worker in workers:
            worker.start()
        assert wait_until(lambda: len(receiver.requests) >= 40)
        assert not wait_until(lambda: len(receiver.requests) > 40, timeout=0.5)
    finally:
        for worker in workers:
            worker.stop()
        for s in stores:
            s.close()
    ids = sorted(int(r.headers["x-stockade-delivery"]) for r in receiver.requests)
    assert ids == sorted(d.id for d in deliveries(store))
    assert {d.status for d in deliveries(store)} == {"delivered"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_claims_skip_rows_another_worker_has_locked(
    store: Store, box: SecretBox, receiver: HttpReceiver
) -> None:
    # SQLite has no row locks: its write transactions (BEGIN IMMEDIATE) serialise claims.
    clock = FakeClock()
    channel = add_channel(store, box, "hook", receiver.url())
    add_rule(store, "now", [channel])
    for n in range(3):
        route_event(store, event(n=n), clock(), samples=5)
    first_id = deliveries(store)[0].id
    other = Store(store.url)
    try:
        with other.engine.connect() as holder:
            holder.execute(text("SET lock_timeout = '2s'"))
            holder.execute(
                text("SELECT id FROM alert_deliveries WHERE id = :id FOR UPDATE"), {"id": first_id}
            )
            # Without SKIP LOCKED this would wait on the locked row and time out.
            claimed = claim_due(
                store,
                owner="w",
                now=clock(),
                lease=dt.timedelta(seconds=60),
                limit=10,
                max_attempts=5,
            )
            holder.rollback()
    finally:
        other.close()
    assert sorted(c.delivery_id for c in claimed) == [d.id for d in deliveries(store)[1:]]


def test_old_finished_deliveries_are_pruned(
    store: Store, box: SecretBox, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    channel = add_channel(store, box, "hook", receiver.url())
    add_rule(store, "now", [channel], kinds=("policy.*",))
    add_rule(store, "later", [channel], kinds=("later.*",), aggregate_seconds=86_400)
    route_event(store, event(), clock(), samples=5)
    _worker(box, store, _settings(), clock).run_once()
    route_event(store, event("later.event"), clock(), samples=5)
    with store.write() as session:
        assert prune_deliveries(session, clock() + dt.timedelta(days=1)) == 1
    assert [d.status for d in deliveries(store)] == ["collecting"]


def test_channel_secrets_are_sealed_at_rest(
    store: Store, box: SecretBox, config: ConsoleConfig, receiver: HttpReceiver
) -> None:
    clock = FakeClock()
    token = "T333/B333/WWWWWWWWWWWWWWWWWWWWWWWW"  # noqa: S105  # a fake token in the URL
    channel = add_channel(store, box, "hook", receiver.url(f"/services/{token}"))
    add_rule(store, "now", [channel])
    with store.read() as session:
        raw = session.execute(text("SELECT secrets FROM alert_channels")).scalar_one()
    assert token not in str(raw)
    assert "/services/" not in str(raw)
    route_event(store, event(), clock(), samples=5)
    # A Console without the key file (a restored backup that left it out) cannot send.
    box.path.rename(box.path.with_suffix(".moved"))
    keyless = SecretBox(config.data_dir)
    assert DeliveryWorker(store, _settings(), clock, box=keyless).run_once() == 1
    [row] = deliveries(store)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert "alert-secrets.key is missing" in row.last_error
    assert receiver.requests == []


def test_migration_0004_creates_and_drops_the_alert_tables(database_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from stockade.console.store import migrate
    from stockade.console.store.models import Base

    store = Store(database_url)
    try:
        migrate.upgrade(store, "0004")
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        ours = [d for d in differences if "alert_" in str(d)]
        assert ours == []
        assert {t for t in inspect(store.engine).get_table_names() if t.startswith("alert_")} == {
            "alert_channels",
            "alert_rules",
            "alert_rule_channels",
            "alert_deliveries",
        }
        config = migrate._config()
        with store.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
            connection.commit()
        assert not [t for t in inspect(store.engine).get_table_names() if t.startswith("alert_")]
        migrate.upgrade(store)
        assert migrate.is_at_head(store)
    finally:
        store.close()
