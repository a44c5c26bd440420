"""The dispatcher: every event to every subscribed receiver, signed, at least once.

One round (:meth:`Dispatcher.run_once`) has three short transactions and the
HTTP requests between them, outside any transaction:

1. **Fan-out.** The events after the fan-out position (in the feed's order,
   :mod:`accountapps.storage.event_log`) become one delivery row per matching
   subscription, and the position moves on, in one transaction. On PostgreSQL
   the position row is locked ``FOR UPDATE SKIP LOCKED``: one dispatcher fans
   out at a time, the others skip the step.
2. **Claim.** Due deliveries are taken (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so several dispatchers on several hosts never take the same
   one) and leased: their ``next_attempt_at`` moves past the lease and a claim
   token marks them. A dispatcher killed (even ``SIGKILL``) after this leaves
   them due again when the lease ends: nothing is lost, and a receiver may see
   a delivery twice (it deduplicates by ``webhook-id``). Only the first pending
   delivery of each resource and subscription is due, so a receiver gets one
   resource's events in order; with it come the ones queued behind it (up to
   :data:`QUEUED_PER_RESOURCE`), which one thread delivers in order, stopping
   at the first failure (the rest go back, untried), so a busy resource is not
   held to one delivery per round.
3. **Deliver and record.** Each is POSTed, signed by the Standard Webhooks
   specification, with short timeouts and no redirects, to the address that
   was checked (:mod:`accountapps.domain.receivers`); the outcomes are
   recorded where the claim token still matches. A failure is retried with
   exponential backoff and jitter until the retry period has passed since the
   first attempt, then the delivery is dead-lettered.

SQLite has one writer at a time: run one dispatcher there.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult

import urllib3
from standardwebhooks.webhooks import Webhook

from accountapps.domain import events, receivers, webhooks
from accountapps.storage import event_log, jsoncodec
from accountapps.storage.db import analyze, database, is_postgres, write_transaction
from accountapps.storage.models import Event, WebhookDelivery, WebhookSubscription, utcnow

log = logging.getLogger(__name__)

USER_AGENT = "accountapps-webhooks/1"
#: At most this much of a receiver's answer is read (the status is what counts).
MAX_ANSWER = 64 * 1024
#: Ids per ``IN (...)`` list (well under every database's limit on parameters).
_IN_CHUNK = 500
#: At most this many deliveries of one resource and subscription in one round
#: (the first due one and those queued behind it), delivered in order.
QUEUED_PER_RESOURCE = 64
#: Queued deliveries claimed with a round's heads: at most this many batches.
QUEUED_ROOM = 4


@dataclass(frozen=True)
class Settings:
    """How the dispatcher delivers (``ACCOUNTAPPS_WEBHOOK_*``, see :meth:`from_config`)."""

    api_url: str = ""  # the API's absolute URL: the base of the hrefs in payloads
    timeout: float = 10.0
    retry_for: timedelta = timedelta(hours=72)
    retry_base: float = 5.0
    retry_max: float = 3600.0
    allow_private: bool = False
    workers: int = 8
    batch: int = 64
    lease: float = 0.0  # seconds a claim lasts; 0: enough for a batch at the timeout

    @classmethod
    def from_config(cls, config: Any, api_url: str, **overrides: Any) -> Settings:
        """The settings of an app's configuration, with ``overrides``."""
        settings = cls(
            api_url=api_url, timeout=config["ACCOUNTAPPS_WEBHOOK_TIMEOUT"],
            retry_for=timedelta(hours=config["ACCOUNTAPPS_WEBHOOK_RETRY_HOURS"]),
            retry_base=config["ACCOUNTAPPS_WEBHOOK_RETRY_BASE_SECONDS"],
            retry_max=config["ACCOUNTAPPS_WEBHOOK_RETRY_MAX_SECONDS"],
            allow_private=bool(config["ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE"]))
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def lease_seconds(self) -> float:
        """How long a claim lasts: the whole batch at the timeout, and some."""
        if self.lease:
            return self.lease
        return self.timeout * (math.ceil(self.batch / self.workers) + 2)


def backoff(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` tries: doubling, capped, half jittered."""
    delay = min(settings.retry_max, settings.retry_base * 2 ** min(attempts - 1, 40))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


# --- 1. fan-out -----------------------------------------------------------------

def fan_out(limit: int = 1000) -> int:
    """Turn the next events into deliveries for the subscriptions they match; how many."""
    with write_transaction():
        position = event_log.fanout_position(lock=True)
        if position is None:
            return 0  # another dispatcher is fanning out
        read = event_log.read_after(position, limit)
        if not read:
            return 0
        subscriptions = list(WebhookSubscription.select(
            WebhookSubscription.id, WebhookSubscription.events, WebhookSubscription.created_at))
        now = WebhookDelivery.created_at.db_value(utcnow())
        rows = [(subscription.id, event.seq, event.id, event.type, event.resource_id,
                 "pending", 0, now, now)
                for event, _position in read for subscription in subscriptions
                if event.occurred_at >= subscription.created_at
                and webhooks.matches(subscription.events, event.type)]
        _insert_deliveries(rows)
        event_log.set_fanout_position(read[-1][1])
    if len(rows) >= BURST:
        _statistics.refresh()
    return len(rows)


#: A fan-out of at least this many deliveries refreshes the table's statistics.
BURST = 1000


class _Statistics:
    """Keeps PostgreSQL's statistics of ``webhook_delivery`` abreast of bursts.

    The claim finds each queue's head through the queue's index; planned with
    statistics from before a burst (no pending delivery then), PostgreSQL
    takes another index and reads every pending delivery per candidate, and a
    round of 5,000 takes seconds. Autovacuum refreshes them within a minute or
    so; after a burst the dispatcher does it at once (``ANALYZE`` samples at most
    30,000 rows), at most every :attr:`every` seconds.
    """

    every = 10.0

    def __init__(self) -> None:
        self._last = -math.inf
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """``ANALYZE webhook_delivery``, unless done within :attr:`every` seconds."""
        with self._lock:
            if time.monotonic() - self._last < self.every:
                return
            self._last = time.monotonic()
        analyze("webhook_delivery")


_statistics = _Statistics()


#: The columns of a new delivery, in the order :func:`_insert_deliveries` takes them.
_NEW_DELIVERY = ("subscription_id", "event_seq", "event_id", "event_type", "resource_id",
                 "status", "attempts", "created_at", "next_attempt_at")


def _insert_deliveries(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert new deliveries (values as :data:`_NEW_DELIVERY`), many rows per statement."""
    one = f"({', '.join([database.param] * len(_NEW_DELIVERY))})"
    for start in range(0, len(rows), _IN_CHUNK):
        chunk = rows[start:start + _IN_CHUNK]
        database.execute_sql(
            f"INSERT INTO webhook_delivery ({', '.join(_NEW_DELIVERY)}) "  # noqa: S608
            f"VALUES {', '.join([one] * len(chunk))}", [value for row in chunk for value in row])


# --- 2. claim -------------------------------------------------------------------

@dataclass
class Claimed:
    """A delivery this dispatcher holds until its lease ends."""

    delivery_id: int
    claim: str
    attempts: int
    first_attempt_at: datetime
    url: str
    secret: str
    event: Event | None
    #: (subscription, resource): one queue, delivered in order
    queue: tuple[Any, str] = ("", "")
    claimed_at: float = field(default_factory=time.monotonic)


def _due_ids(now: datetime, limit: int) -> list[int]:
    param = database.param
    lock = " FOR UPDATE OF d SKIP LOCKED" if is_postgres() else ""
    cursor = database.execute_sql(
        "SELECT d.id FROM webhook_delivery d "  # noqa: S608 (no input in the text)
        "JOIN webhook_subscription s ON s.id = d.subscription_id "
        f"WHERE d.status = 'pending' AND d.next_attempt_at <= {param} AND s.paused = {param} "
        "AND NOT EXISTS (SELECT 1 FROM webhook_delivery p WHERE p.status = 'pending' "
        "AND p.subscription_id = d.subscription_id AND p.resource_id = d.resource_id "
        f"AND p.id < d.id) ORDER BY d.next_attempt_at, d.id LIMIT {param}{lock}",
        (WebhookDelivery.next_attempt_at.db_value(now),
         WebhookSubscription.paused.db_value(False), limit))
    return [row[0] for row in cursor.fetchall()]


def _queued(heads: Sequence[int], now: datetime, room: int) -> list[int]:
    """The deliveries queued behind ``heads`` (same subscription and resource), in
    order: each queue's next ones while they are due and unclaimed, at most
    :data:`QUEUED_PER_RESOURCE` per queue with its head and ``room`` in all.

    Nobody else can claim them meanwhile: a delivery is due only when no
    earlier one of its queue is pending, and the heads are (see :func:`claim`).
    """
    if room <= 0 or not heads:
        return []
    param = database.param
    lock = " FOR UPDATE OF d" if is_postgres() else ""
    cursor = database.execute_sql(
        "SELECT d.id, d.subscription_id, d.resource_id, d.next_attempt_at, d.claim "  # noqa: S608
        "FROM webhook_delivery d JOIN webhook_delivery h "
        "ON h.subscription_id = d.subscription_id AND h.resource_id = d.resource_id "
        f"WHERE h.id IN ({', '.join([param] * len(heads))}) AND d.status = 'pending' "
        f"AND d.id > h.id ORDER BY d.id LIMIT {param}{lock}",
        (*heads, room * 2))  # twice the room: rows behind a stopped queue are passed over
    due = WebhookDelivery.next_attempt_at.python_value
    taken: dict[tuple[Any, str], int] = {}
    stopped: set[tuple[Any, str]] = set()
    ids: list[int] = []
    for delivery_id, subscription_id, resource_id, next_attempt_at, holder in cursor.fetchall():
        queue = (subscription_id, resource_id)
        if queue in stopped:
            continue
        if (holder is not None or due(next_attempt_at) > now
                or taken.get(queue, 1) >= QUEUED_PER_RESOURCE):
            stopped.add(queue)  # the queue's order: nothing behind it this round
            continue
        taken[queue] = taken.get(queue, 1) + 1
        ids.append(delivery_id)
        if len(ids) >= room:
            break
    return ids


def _lease(ids: Sequence[int], token: str, now: datetime, until: datetime) -> None:
    """Mark the deliveries ``ids`` as claimed by ``token`` until ``until`` (one attempt more)."""
    param = database.param
    at = WebhookDelivery.next_attempt_at.db_value
    database.execute_sql(
        f"UPDATE webhook_delivery SET next_attempt_at = {param}, claim = {param}, "  # noqa: S608
        f"attempts = attempts + 1, last_attempt_at = {param}, "
        f"first_attempt_at = COALESCE(first_attempt_at, {param}) "
        f"WHERE id IN ({', '.join([param] * len(ids))})",
        (at(until), token, at(now), at(now), *ids))


def release(untried: Sequence[Claimed]) -> None:
    """Give back claimed deliveries that were not tried (their attempt is not counted):
    due again at once, behind their queue's earlier ones."""
    if not untried:
        return
    param = database.param
    with write_transaction():
        for start in range(0, len(untried), _IN_CHUNK):
            chunk = untried[start:start + _IN_CHUNK]
            database.execute_sql(
                f"UPDATE webhook_delivery SET claim = NULL, next_attempt_at = {param}, "  # noqa: S608
                "attempts = attempts - 1, first_attempt_at = CASE WHEN attempts = 1 "
                "THEN NULL ELSE first_attempt_at END "
                f"WHERE claim = {param} AND id IN ({', '.join([param] * len(chunk))})",
                (WebhookDelivery.next_attempt_at.db_value(utcnow()), chunk[0].claim,
                 *(claimed.delivery_id for claimed in chunk)))


def _claimed(ids: Sequence[int], token: str, now: datetime) -> list[Claimed]:
    """The leased deliveries ``ids`` with their receivers and events (``None``: pruned)."""
    param = database.param
    cursor = database.execute_sql(
        "SELECT d.id, d.attempts, d.first_attempt_at, s.url, s.secret, "  # noqa: S608
        f"d.subscription_id, d.resource_id, e.seq, {event_log.COLUMNS} FROM webhook_delivery d "
        "JOIN webhook_subscription s ON s.id = d.subscription_id "
        "LEFT JOIN event e ON e.seq = d.event_seq "
        f"WHERE d.id IN ({', '.join([param] * len(ids))}) ORDER BY d.id", tuple(ids))
    first_attempt = WebhookDelivery.first_attempt_at.python_value
    return [Claimed(row[0], token, row[1], first_attempt(row[2]) or now, row[3], row[4],
                    None if row[7] is None else event_log.from_row(row[8:]),
                    queue=(row[5], row[6]))
            for row in cursor.fetchall()]


def claim(settings: Settings) -> list[Claimed]:
    """Take and lease the due deliveries (the first of each resource and subscription),
    and those queued behind them (see :func:`_queued`), in order."""
    now = utcnow()
    token = secrets.token_hex(8)
    with write_transaction():
        heads = _due_ids(now, settings.batch)
        if not heads:
            return []
        # Room for several rounds' worth behind the heads: a busy resource's
        # events would otherwise queue up faster than one round per batch drains them.
        ids = heads + _queued(heads, now, QUEUED_ROOM * settings.batch)
        _lease(ids, token, now, now + timedelta(seconds=settings.lease_seconds))
        return _claimed(ids, token, now)


# --- 3. deliver and record ------------------------------------------------------

def payload(event: Event, api_url: str) -> bytes:
    """The body of a delivery: Standard Webhooks' ``{"type", "timestamp", "data"}``."""
    data = events.describe(event, api_url)
    return jsoncodec.dumps_bytes(
        {"type": event.type, "timestamp": data["occurredAt"], "data": data})


def signed_headers(secret: str, message_id: str, body: bytes,
                   now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of ``body``: its id, the time, and its signature."""
    moment = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


@dataclass
class Outcome:
    """What one attempt came to."""

    claimed: Claimed
    ok: bool
    status: int | None
    error: str | None


class Sender:
    """POSTs to receivers: checked addresses, short timeouts, no redirects, kept-alive pools."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pools: dict[tuple[str, str, str, int], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, parts: SplitResult, address: str) -> urllib3.HTTPConnectionPool:
        port = receivers.default_port(parts)
        key = (parts.scheme, parts.hostname or "", address, port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                options: dict[str, Any] = {"maxsize": self.settings.workers, "retries": False}
                if parts.scheme == "https":
                    # Connect to the checked address; verify the certificate of the name.
                    pool = urllib3.HTTPSConnectionPool(
                        address, port, server_hostname=parts.hostname,
                        assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", **options)
                else:
                    pool = urllib3.HTTPConnectionPool(address, port, **options)
                self._pools[key] = pool
        return pool

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """``(status, None)`` when the receiver answered, ``(None, why)`` when it did not."""
        try:
            parts, address = receivers.check(url, allow_private=self.settings.allow_private)
        except receivers.RefusedReceiver as exc:
            return None, f"refused: the URL {exc}"
        host = parts.hostname or ""
        host_header = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            host_header += f":{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        timeout = urllib3.Timeout(connect=min(5.0, self.settings.timeout),
                                  read=self.settings.timeout)
        try:
            response = self._pool(parts, str(address)).urlopen(
                "POST", target, body=body, headers={**headers, "Host": host_header},
                redirect=False, retries=False, timeout=timeout, preload_content=False,
                assert_same_host=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        try:
            response.read(MAX_ANSWER)
        except (urllib3.exceptions.HTTPError, OSError):
            pass
        finally:
            if not response.isclosed():
                response.close()  # more than we read: the connection cannot be reused
            response.release_conn()
        return response.status, None


def record(outcomes: Sequence[Outcome], settings: Settings, rng: random.Random | None = None,
           ) -> None:
    """Write the outcomes where this dispatcher still holds the claim.

    The deliveries acknowledged with the same status under the same claim are
    one ``UPDATE`` (usually the whole batch); each failure is one of its own
    (it has its own next attempt).
    """
    now = utcnow()
    delivered: dict[tuple[str, int | None], list[int]] = {}
    for outcome in outcomes:
        if outcome.ok:
            delivered.setdefault((outcome.claimed.claim, outcome.status), []).append(
                outcome.claimed.delivery_id)
    param, at = database.param, WebhookDelivery.delivered_at.db_value(now)
    with write_transaction():
        for (token, status), ids in delivered.items():
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start:start + _IN_CHUNK]
                database.execute_sql(
                    "UPDATE webhook_delivery SET status = 'delivered', "  # noqa: S608
                    f"delivered_at = {param}, response_status = {param}, error = NULL, "
                    f"claim = NULL, next_attempt_at = {param} WHERE claim = {param} "
                    f"AND id IN ({', '.join([param] * len(chunk))})",
                    (at, status, at, token, *chunk))
        for outcome in outcomes:
            if outcome.ok:
                continue
            held = ((WebhookDelivery.id == outcome.claimed.delivery_id)
                    & (WebhookDelivery.claim == outcome.claimed.claim))
            give_up_at = outcome.claimed.first_attempt_at + settings.retry_for
            values: dict[str, Any] = {"response_status": outcome.status, "claim": None,
                                      "error": outcome.error}
            if now >= give_up_at or outcome.claimed.event is None:
                values.update(status="dead", next_attempt_at=now)
            else:
                delay = timedelta(seconds=backoff(outcome.claimed.attempts, settings, rng))
                values["next_attempt_at"] = min(now + delay, give_up_at)
            WebhookDelivery.update(**values).where(held).execute()


class Dispatcher:
    """Rounds of fan-out, claim, deliver and record (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = Sender(settings)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="webhook")

    def deliver(self, claimed: Claimed) -> Outcome | None:
        """POST one claimed delivery; ``None`` when its lease no longer covers a request."""
        if claimed.event is None:
            return Outcome(claimed, False, None, "the event is no longer kept")
        left = self.settings.lease_seconds - (time.monotonic() - claimed.claimed_at)
        if left <= self.settings.timeout:
            return None  # another dispatcher may hold it by the time we answer
        body = payload(claimed.event, self.settings.api_url)
        headers = signed_headers(claimed.secret, claimed.event.id, body)
        status, error = self.sender.post(claimed.url, body, headers)
        ok = status is not None and 200 <= status < 300
        if not ok:
            log.info("webhook delivery failed", extra={
                "delivery": claimed.delivery_id, "event": claimed.event.id,
                "status": status, "error": error})
        return Outcome(claimed, ok, status, error if status is None else
                       None if ok else f"the receiver answered {status}")

    def deliver_in_order(self, queue: Sequence[Claimed]) -> tuple[list[Outcome], list[Claimed]]:
        """Deliver one resource's claimed deliveries in order, up to the first that fails
        (or that its lease no longer covers): the outcomes, and those left untried."""
        outcomes: list[Outcome] = []
        for index, claimed in enumerate(queue):
            outcome = self.deliver(claimed)
            if outcome is not None:
                outcomes.append(outcome)
            if outcome is None or not outcome.ok:
                # (one whose lease is too short stays claimed: due when the lease ends)
                return outcomes, list(queue[index + 1:])
        return outcomes, []

    def run_once(self) -> int:
        """One round: fan out, claim, deliver, record; how many deliveries were attempted."""
        fan_out()
        claimed = claim(self.settings)
        if not claimed:
            return 0
        queues: dict[tuple[Any, str], list[Claimed]] = {}
        for delivery in claimed:  # in id order: each queue in its order
            queues.setdefault(delivery.queue, []).append(delivery)
        outcomes: list[Outcome] = []
        untried: list[Claimed] = []
        for done, left in self.executor.map(self.deliver_in_order, queues.values()):
            outcomes += done
            untried += left
        record(outcomes, self.settings)
        release(untried)
        return len(outcomes)

    def run(self, stop: threading.Event, *, once: bool = False, idle: float = 0.1) -> int:
        """Deliver until ``stop`` is set (``once``: until nothing is due); how many attempted."""
        total = 0
        while not stop.is_set():
            with database.connection_context():
                done = self.run_once()
            total += done
            if not done:
                if once:
                    break
                stop.wait(idle)
        self.executor.shutdown(wait=True)
        return total
