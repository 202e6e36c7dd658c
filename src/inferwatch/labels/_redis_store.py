"""A prediction store shared by a fleet through Redis.

When a label can reach another replica than its prediction did, the store
must be shared: :class:`RedisStore` keeps each replica's predictions in one
Redis, keyed by inference id, and every replica's labels join against it.

Layout: one hash per inference id, ``{prefix}{id}``, with a TTL (``PEXPIRE``
at each write, in the same script call as the ``HSET``). Field ``m:{model}``
holds a prediction as a short JSON array of exactly the fields
:class:`~._store.StoredPrediction` keeps (version, prediction, score,
confidence, time, variant, segment, drift window, and the logged
propensity and target when the call logged them: never features, never
PII); several models' predictions under one id are several fields, as the
memory store's chain is. A join marks itself with a field
``c:{kind}:{tag}:{model}`` whose value is a digest of the prediction it
joined, written by a Lua script that reads and marks in one atomic step: a
label posted to two replicas joins once, fleet-wide, and a later prediction
under the same id and model (a retried request) can be joined again.

Off the request path twice over. Predictions come from the aggregator
thread (never from a predict call) and go into a bounded queue that a
writer thread of the store's own pipelines to Redis, so a slow or dead
Redis never holds up the aggregator: the queue fills and the overflow is
counted. The join's lookups (batched: the labels queued since the last
drain are claimed in one pipelined round trip) run on the aggregator too;
they wait at most ``timeout`` seconds (the client's socket timeouts), and
not at all while Redis is marked unreachable. After a failure the store
makes no attempt for ``retry_interval`` seconds, then tries again (the
client reconnects by itself). Everything lost meanwhile is counted, by
reason: ``unavailable`` (predictions not written), ``queue_full`` (Redis
slower than the traffic), ``lookup_unavailable`` (labels that could not be
looked up; they also count as ``no_prediction`` once their grace is over).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .. import _forks
from .._errors import ConfigurationError, MissingDependencyError
from ._store import AMBIGUOUS, DUPLICATE, JOINED, MISSING, StoredPrediction

__all__ = ["RedisStore"]

#: Entries per pipelined round trip (writes), claims per script call (joins).
WRITE_CHUNK = 1000
CLAIM_CHUNK = 500

# Claims a batch of labels: KEYS are the ids' hashes, ARGV two per key, the model
# ('=' .. name, or '*' for whichever single model the id has) and the claim
# ('label:organic', 'outcome:revenue'). Returns one string per key (one reply element
# each: redis-py parses replies in Python): 'm' missing, 'a' ambiguous, or 'j' joined /
# 'd' duplicate followed by the prediction's field's length, ':', the field and the value.
_CLAIM_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local want, claim = ARGV[2 * i - 1], ARGV[2 * i]
  local status, field, entry = 'm', nil, false
  if want == '*' then
    local n = 0
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 2) == 'm:' then
        n = n + 1
        field = f
      end
    end
    if n > 1 then
      status, field = 'a', nil
    end
  else
    field = 'm:' .. string.sub(want, 2)
  end
  if field then
    entry = redis.call('HGET', key, field)
  end
  if entry then
    local mark = 'c:' .. claim .. ':' .. string.sub(field, 3)
    local stamp = string.sub(redis.sha1hex(entry), 1, 12)
    if redis.call('HGET', key, mark) == stamp then
      status = 'd'
    else
      redis.call('HSET', key, mark, stamp)
      status = 'j'
    end
    out[i] = status .. string.len(field) .. ':' .. field .. entry
  else
    out[i] = status
  end
end
return out
"""

# Writes a chunk of predictions: KEYS are the ids' hashes, ARGV[1] the TTL in ms, then
# a field ('m:' .. model) and a value per key.
_PUT_SCRIPT = """
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, ARGV[2 * i], ARGV[2 * i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
"""

_STATUS = {ord("j"): JOINED, ord("d"): DUPLICATE, ord("m"): MISSING, ord("a"): AMBIGUOUS}
#: One entry's memory while it waits for the writer (object, key, strings): an estimate.
_QUEUED_BYTES = 450

Request = tuple[str, str | None, str]


def _redis_module() -> Any:
    try:
        import redis
    except ImportError:
        raise MissingDependencyError(
            "inferwatch.labels.RedisStore needs the redis client, which is not installed: "
            "pip install 'inferwatch[redis]'"
        ) from None
    return redis


def _number(value: float) -> float | None:
    return value if value == value else None  # NaN is stored as null


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # a numpy scalar (a class named by classes=)
    if item is not None:
        return item()
    raise TypeError(f"a {type(value).__name__} is not a stored prediction's value")


def encode(entry: StoredPrediction) -> bytes:
    """The stored form of one prediction: only the fields the join needs."""
    fields = [entry.version, entry.prediction, _number(entry.score), _number(entry.confidence),
              entry.timestamp, entry.variant, entry.segment, entry.window]
    if entry.policy is not None:  # (propensity, target): two more fields
        fields.extend(entry.policy)
    return json.dumps(fields, separators=(",", ":"), allow_nan=False,
                      default=_plain).encode("utf-8")


def decode(inference_id: str, model: str, data: bytes) -> StoredPrediction:
    """The entry back from its stored form (raises ValueError when it is not one)."""
    try:
        fields = json.loads(data)
        version, prediction, score, confidence, timestamp, variant, segment, window = (
            fields[:8])
        policy = None
        if len(fields) == 10:
            policy = (float(fields[8]), float(fields[9]))
        elif len(fields) != 8:
            raise ValueError(f"{len(fields)} fields")
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        # not JSON, or not eight (or ten) fields
        raise ValueError(f"not a stored prediction: {exc}") from None
    nan = math.nan
    return StoredPrediction(
        inference_id, model, str(version), prediction,
        nan if score is None else float(score), nan if confidence is None else float(confidence),
        float(timestamp), variant=variant, segment=segment, window=window, policy=policy)


def _where(url: str) -> str:
    """``host:port/db`` of a Redis URL, without its credentials (for messages)."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}" + (
        parts.path if parts.hostname else "")


class RedisStore:
    """Predictions kept in Redis, so a label recorded on any replica joins the
    prediction made on another.

    ::

        inferwatch.labels.track(positive=1, store=inferwatch.labels.RedisStore(
            "redis://redis.internal:6379/0", ttl=3 * 86400))

    Args:
        url: the Redis server (``redis://``, ``rediss://`` or ``unix://``; a
            password in it is never shown in messages or the summary).
        prefix: the start of every key this store writes (one hash per id).
        ttl: seconds a prediction is kept (its key's TTL, set at each write).
        max_pending: predictions waiting for the writer thread at most; past
            it they are dropped, counted as ``label_store_queue_full``.
        timeout: seconds any one Redis call may take (connect and socket
            timeouts of the client made from ``url``).
        retry_interval: seconds without attempts after a failure.
        client: a ``redis.Redis`` to use instead of one made from ``url``
            (a Sentinel master, your own pool); its timeouts are yours to set
            small (a few hundred ms) and its retries off.

    Needs the ``redis`` extra (``pip install 'inferwatch[redis]'``).

    Raises:
        MissingDependencyError: the redis client is not installed.
        ConfigurationError: an option is out of range.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "inferwatch:pred:",
        ttl: float = 7 * 86400.0,
        max_pending: int = 50_000,
        timeout: float = 0.25,
        retry_interval: float = 1.0,
        client: Any = None,
    ) -> None:
        redis = _redis_module()
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            shown = _where(url) if isinstance(url, str) else repr(url)  # no password shown
            raise ConfigurationError("url must be a Redis URL such as redis://127.0.0.1:6379/0 "
                                     f"(redis://, rediss:// or unix://), got {shown}")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"prefix must be a non-empty str, got {prefix!r}")
        for name, value in (("ttl", ttl), ("timeout", timeout),
                            ("retry_interval", retry_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a positive number of seconds, "
                                         f"got {value!r}")
        if ttl < 0.001:
            raise ConfigurationError(f"ttl must be at least 0.001 seconds, got {ttl!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigurationError(f"max_pending must be an int >= 1, got {max_pending!r}")
        self._redis = redis
        self._url = url
        self.where = "(your client)" if client is not None else _where(url)
        self.prefix = prefix
        self.ttl = float(ttl)
        #: The age bound, as :class:`MemoryStore` names it (the summary shows it).
        self.max_age = self.ttl
        self.max_pending = max_pending
        self.timeout = float(timeout)
        self.retry_interval = float(retry_interval)
        self._own_client = client is None
        self._client = client if client is not None else self._make_client()
        self._errors = (redis.RedisError, OSError)
        self._reset()
        _forks.register(self)

    def _make_client(self) -> Any:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: a failure is counted and the breaker opens; the next attempt
        # comes after retry_interval, so one bad moment never costs several timeouts.
        return self._redis.Redis.from_url(
            self._url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: collections.deque[list[StoredPrediction]] = collections.deque()
        self._queued = 0
        #: Ids queued or being written, with how many of their entries are.
        self._inflight: dict[str, int] = {}
        self._writer: threading.Thread | None = None
        self._closed = False
        self._down_until = 0.0
        self._dropped = {"unavailable": 0, "queue_full": 0, "lookup_unavailable": 0}
        self._written: collections.deque[tuple[float, int]] = collections.deque()
        self._live = 0
        self._claims: dict[Request, collections.deque[tuple[str, StoredPrediction | None]]] = {}
        self._script = self._client.register_script(_CLAIM_SCRIPT)
        self._put_script = self._client.register_script(_PUT_SCRIPT)
        self.failures = 0
        self.last_error: str | None = None

    def _after_fork_in_child(self) -> None:
        # The parent's queue, threads and sockets are the parent's: a child starts
        # with its own connection (a new client; redis-py's pool also notices the
        # new pid) and its writer thread starts at its first write.
        if self._own_client:
            self._client = self._make_client()
        else:
            self._client.connection_pool.reset()
        self._reset()

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r}, prefix={self.prefix!r}, ttl={self.ttl:g})"

    # -- health ---------------------------------------------------------------------

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self.retry_interval
        with contextlib.suppress(Exception):  # a pool that cannot close its sockets
            self._client.connection_pool.disconnect()

    @property
    def available(self) -> bool:
        """False while the store makes no attempts after a failure."""
        return self._available()

    # -- writes: aggregator thread -> queue -> writer thread --------------------------

    def put(self, predictions: Iterable[StoredPrediction], now: float) -> None:
        batch = list(predictions)
        if not batch:
            return
        with self._lock:
            if self._closed:
                self._dropped["unavailable"] += len(batch)
                return
            room = self.max_pending - self._queued
            if room < len(batch):
                self._dropped["queue_full"] += len(batch) - max(room, 0)
                batch = batch[:max(room, 0)]
                if not batch:
                    return
            self._queue.append(batch)
            self._queued += len(batch)
            inflight = self._inflight
            for entry in batch:
                key = entry.inference_id
                inflight[key] = inflight.get(key, 0) + 1
            if self._writer is None:
                self._start_writer()
            self._wake.notify()

    def _start_writer(self) -> None:
        # Started at the first write (never at import or construction), under _lock.
        self._writer = threading.Thread(target=self._run, name="inferwatch-redis-store",
                                        daemon=True)
        self._writer.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return
                batches = list(self._queue)
                self._queue.clear()
            entries = [entry for batch in batches for entry in batch]
            try:
                self._write(entries)
            except Exception as exc:  # the writer must outlive any surprise
                with self._lock:
                    self._dropped["unavailable"] += len(entries)
                self._failed(exc)
            finally:
                with self._lock:
                    self._queued -= len(entries)
                    inflight = self._inflight
                    for entry in entries:
                        key = entry.inference_id
                        left = inflight.get(key, 0) - 1
                        if left > 0:
                            inflight[key] = left
                        else:
                            inflight.pop(key, None)
                    self._wake.notify_all()

    def _write(self, entries: list[StoredPrediction]) -> None:
        # One script call per chunk (HSET + PEXPIRE per entry inside Redis), the chunks
        # of a batch pipelined: redis-py packs one command instead of two per entry,
        # a third of the client's CPU per write.
        if not self._available():
            with self._lock:
                self._dropped["unavailable"] += len(entries)
            return
        prefix, ttl_ms = self.prefix, max(int(self.ttl * 1000), 1)
        chunks = [entries[i:i + WRITE_CHUNK] for i in range(0, len(entries), WRITE_CHUNK)]
        try:
            pipe = self._client.pipeline(transaction=False)
            for chunk in chunks:
                keys: list[str] = []
                args: list[int | str | bytes] = [ttl_ms]
                for entry in chunk:
                    keys.append(prefix + entry.inference_id)
                    args += ("m:" + entry.model, encode(entry))
                self._put_script(keys=keys, args=args, client=pipe)
            results = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            with self._lock:
                self._dropped["unavailable"] += len(entries)
            self._failed(exc)
            return
        failed = sum(len(chunk) for chunk, result in zip(chunks, results, strict=True)
                     if isinstance(result, Exception))
        with self._lock:
            self._dropped["unavailable"] += failed
            self._count_written(len(entries) - failed)
        if failed:  # Redis refused (out of memory, read-only replica): back off too
            self._failed(next(r for r in results if isinstance(r, Exception)))

    def _count_written(self, n: int) -> None:
        # Buckets ttl/128 wide: at most ~129 of them, whatever the traffic.
        now = time.monotonic()
        written = self._written
        if written and now - written[-1][0] < self.ttl / 128:
            written[-1] = (written[-1][0], written[-1][1] + n)
        else:
            written.append((now, n))
        self._live += n

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued prediction is written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), stop the writer."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(timeout)

    def _await(self, keys: Iterable[str]) -> None:
        """Wait (``timeout`` at most) for the writer to write any of ``keys`` still queued,
        so a label recorded right after its predict finds the prediction in Redis."""
        with self._lock:
            inflight = self._inflight
            if not inflight or not any(key in inflight for key in keys):
                return
            deadline = time.monotonic() + self.timeout
            while any(key in inflight for key in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._wake.wait(left)

    # -- joins: aggregator thread (or collection) ---------------------------------------

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Claim a batch of labels and outcomes in one round trip, ahead of the join's
        :meth:`claim` calls for them (which then take the results in order).

        ``requests`` are ``(inference id as keyed, model or None, claim)``.
        """
        self._claims = {}
        if not requests:
            return
        self._await([r[0] for r in requests])
        results = self._claim_many(requests)
        if results is None:  # counted once: the claims that follow do not try again
            results = [(MISSING, None)] * len(requests)
        claims = self._claims
        for request, result in zip(requests, results, strict=True):
            queue = claims.get(request)
            if queue is None:
                queue = claims[request] = collections.deque()
            queue.append(result)

    def claim(self, inference_id: str, model: str | None,
              key: str) -> tuple[str, StoredPrediction | None]:
        queue = self._claims.get((inference_id, model, key))
        if queue:
            return queue.popleft()
        self._await([inference_id])
        results = self._claim_many([(inference_id, model, key)])
        return (MISSING, None) if results is None else results[0]

    def _claim_many(self, requests: Sequence[Request]
                    ) -> list[tuple[str, StoredPrediction | None]] | None:
        if not self._available():
            with self._lock:
                self._dropped["lookup_unavailable"] += len(requests)
            return None
        prefix = self.prefix
        try:
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(requests), CLAIM_CHUNK):
                chunk = requests[start:start + CLAIM_CHUNK]
                args: list[str] = []
                for _, model, claim in chunk:
                    args += ("*" if model is None else "=" + model, claim)
                self._script(keys=[prefix + r[0] for r in chunk], args=args, client=pipe)
            replies = pipe.execute()
        except self._errors as exc:
            with self._lock:
                self._dropped["lookup_unavailable"] += len(requests)
            self._failed(exc)
            return None
        out: list[tuple[str, StoredPrediction | None]] = []
        answers = [item for reply in replies for item in reply]
        for (inference_id, _, claim), answer in zip(requests, answers, strict=True):
            result = _STATUS.get(answer[0], MISSING) if answer else MISSING
            if result not in (JOINED, DUPLICATE):
                out.append((result, None))
                continue
            try:
                size, _, rest = answer[1:].partition(b":")
                end = int(size)
                model = rest[2:end].decode("utf-8")  # the field is 'm:' + model
                entry = decode(inference_id, model, rest[end:])
            except (UnicodeDecodeError, ValueError):  # someone else's key under our prefix
                out.append((MISSING, None))
                continue
            entry.claimed = (claim,)
            out.append((result, entry))
        return out

    def expire(self, now: float) -> None:
        """Nothing to do: Redis drops each prediction when its TTL runs out."""

    # -- reading ----------------------------------------------------------------------

    def evictions(self) -> dict[str, int]:
        """What was lost, by reason: ``entries`` and ``age`` are Redis's own (its
        TTL and maxmemory policy expire entries without telling, so 0 here);
        ``unavailable``, ``queue_full`` and ``lookup_unavailable`` count
        predictions not written and labels not looked up."""
        with self._lock:
            return {"entries": 0, "age": 0, **self._dropped}

    def __len__(self) -> int:
        """Predictions this process wrote whose TTL has not run out (the fleet's are
        in Redis; this is what this replica added to them)."""
        cutoff = time.monotonic() - self.ttl
        with self._lock:
            written = self._written
            while written and written[0][0] < cutoff:
                self._live -= written.popleft()[1]
            return self._live

    @property
    def pending(self) -> int:
        """Predictions waiting for the writer thread now."""
        return self._queued

    @property
    def nbytes(self) -> int:
        """Memory this process holds for the store: the writer's queue (estimated)."""
        return self._queued * _QUEUED_BYTES
