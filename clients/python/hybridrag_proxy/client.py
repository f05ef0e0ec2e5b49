"""ProxyClient: one database of a storage proxy, over a keep-alive pool.

Retries: a 503 answer (the backend is busy or restarting) and a proxy that
cannot be reached are retried with exponential backoff, honouring
Retry-After, until ``retry_seconds`` have passed; every other failure raises
ProxyError at once with the proxy's code and message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import quote, urlencode, urlsplit

from .errors import ProxyError
from .http import Pool

ENV_URL = "HYBRIDRAG_PROXY_URL"
ENV_DB = "HYBRIDRAG_PROXY_DB"
ENV_TOKEN = "HYBRIDRAG_PROXY_TOKEN"
ENV_POOL = "HYBRIDRAG_PROXY_POOL_SIZE"
ENV_RETRY = "HYBRIDRAG_PROXY_RETRY_SECONDS"
ENV_TIMEOUT = "HYBRIDRAG_PROXY_TIMEOUT"
ENV_FLUSH_WAIT = "HYBRIDRAG_PROXY_FLUSH_WAIT"

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DB = "default"

# JSON bodies above this size are encoded/decoded in a worker thread so a
# large batch never stalls the event loop.
_OFFLOAD_BYTES = 1 << 20


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class ProxyConfig:
    """Where the proxy is and how to talk to it."""

    url: str = DEFAULT_URL
    db: str = DEFAULT_DB
    token: str = field(default="", repr=False)  # never printed
    pool_size: int = 64
    retry_seconds: float = 30.0
    timeout: float = 300.0
    connect_timeout: float = 10.0
    # Flush requests within this many seconds of each other share one (0:
    # those of one event-loop turn, e.g. LightRAG's gather over its 12
    # storages).
    flush_window: float = 0.0
    # index_done_callback waits until the proxy has rewritten LightRAG's
    # files. Off by default: every acknowledged write is durable already, and
    # the proxy rewrites the files in the background right after.
    flush_wait: bool = False

    @classmethod
    def from_env(cls, environ: Optional[dict[str, str]] = None) -> "ProxyConfig":
        env = os.environ if environ is None else environ

        def num(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None

        return cls(
            url=env.get(ENV_URL, "").strip() or DEFAULT_URL,
            db=env.get(ENV_DB, "").strip() or DEFAULT_DB,
            token=env.get(ENV_TOKEN, "").strip(),
            pool_size=int(num(ENV_POOL, 64)),
            retry_seconds=num(ENV_RETRY, 30.0),
            timeout=num(ENV_TIMEOUT, 300.0),
            flush_wait=_flag(env, ENV_FLUSH_WAIT),
        )


class _LoopState:
    """Per-event-loop state: the pool and the pending debounced flushes
    (one that waits for the files, one that does not)."""

    __slots__ = ("pool", "flush_futures", "flush_tasks", "__weakref__")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.flush_futures: dict[bool, asyncio.Future] = {}
        self.flush_tasks: dict[bool, asyncio.Task] = {}


class ProxyClient:
    """Calls the API of one database (``/v1/databases/<db>``)."""

    def __init__(self, config: ProxyConfig) -> None:
        u = urlsplit(config.url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(
                f"{ENV_URL}={config.url!r}: use http://host:port (e.g. {DEFAULT_URL})"
            )
        if not config.db:
            raise ValueError(f"{ENV_DB} is empty: name a database of the proxy's registry")
        if config.pool_size < 1:
            raise ValueError(f"{ENV_POOL} must be at least 1")
        self.config = config
        self._host = u.hostname
        self._tls = u.scheme == "https"
        self._port = u.port or (443 if self._tls else 80)
        prefix = u.path.rstrip("/")
        self.base_path = f"{prefix}/v1/databases/{quote(config.db, safe='')}"
        host_hdr = self._host if ":" not in self._host else f"[{self._host}]"
        common = f"Host: {host_hdr}:{self._port}\r\nUser-Agent: hybridrag-proxy-python/0.1\r\nAccept: application/json\r\n"
        if config.token:
            common += f"Authorization: Bearer {config.token}\r\n"
        self._common = common
        self._states: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()
        # Optional observer of every HTTP round trip: fn(method, path, seconds).
        self.on_call: Optional[Callable[[str, str, float], None]] = None
        # The database's backend type ("json", "postgres"), once asked.
        self._backend_type: Optional[str] = None

    def __repr__(self) -> str:  # never shows the token
        return f"ProxyClient(url={self.config.url!r}, db={self.config.db!r})"

    async def backend_type(self, refresh: bool = False) -> str:
        """The database's backend type ("json" or "postgres"), from
        GET /v1/databases/<db>; asked once, again with ``refresh`` (a storage's
        initialize refreshes it, so a LightRAG started after a backend switch
        sees the new one)."""
        if self._backend_type is None or refresh:
            out = await self.call("GET", self.target(""))
            self._backend_type = str((out or {}).get("backend", ""))
        return self._backend_type

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        st = self._states.get(loop)
        if st is None:
            st = _LoopState(Pool(self._host, self._port, self._tls, self.config.pool_size, self.config.connect_timeout))
            self._states[loop] = st
        return st

    def target(self, sub: str, params: Optional[dict[str, Any]] = None) -> str:
        """The request target for a path under the database, with a query."""
        t = self.base_path + sub
        if params:
            t += "?" + urlencode(params)
        return t

    async def call(self, method: str, target: str, body: Any = None, *, raw_body: Optional[bytes] = None) -> Any:
        """Send a request to ``target`` (from :meth:`target`) and return the
        decoded JSON answer; raises ProxyError on failure."""
        if raw_body is not None:
            payload = raw_body
        elif body is None:
            payload = b""
        else:
            payload = _dumps(body)
        head = f"{method} {target} HTTP/1.1\r\n{self._common}Content-Length: {len(payload)}\r\n"
        if payload:
            head += "Content-Type: application/json\r\n"
        request = (head + "\r\n").encode("latin-1") + payload
        resp = await self._send(method, target, request)
        data = resp.body
        if not data:
            return None
        if len(data) > _OFFLOAD_BYTES:
            return await asyncio.to_thread(json.loads, data)
        return json.loads(data)

    async def encode(self, body: Any) -> bytes:
        """Encode a (possibly large) JSON body off the event loop."""
        return await asyncio.to_thread(_dumps, body)

    async def _send(self, method: str, target: str, request: bytes):
        st = self._state()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.retry_seconds
        attempt = 0
        while True:
            start = time.perf_counter()
            retry_after: Optional[float] = None
            try:
                resp = await _with_timeout(st.pool.roundtrip(request, method == "HEAD"), self.config.timeout)
            except asyncio.TimeoutError:
                raise ProxyError("timeout", f"{method} {_path(target)}: no answer from the proxy within "
                                 f"{self.config.timeout:g}s", hint=f"raise {ENV_TIMEOUT}") from None
            except (OSError, EOFError, asyncio.IncompleteReadError) as e:
                err = ProxyError("unavailable", f"{method} {_path(target)}: cannot reach the proxy at "
                                 f"{self.config.url}: {e}", hint=f"start the proxy or fix {ENV_URL}")
            else:
                if self.on_call is not None:
                    self.on_call(method, target, time.perf_counter() - start)
                if resp.status < 300:
                    return resp
                err = _error_from(resp, method, target)
                if resp.status != 503:
                    raise err
                retry_after = _parse_retry_after(resp.headers.get("retry-after"))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise err
            delay = min(0.05 * (2 ** attempt), 2.0) * random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = max(delay, retry_after)
            await asyncio.sleep(min(delay, remaining))
            attempt += 1

    async def flush(self, wait: bool = True) -> None:
        """POST /flush, debounced: calls within ``flush_window`` of each other
        share one flush. A caller never joins a flush already sent, so its
        acknowledged writes are always covered. With ``wait`` False the proxy
        answers at once and rewrites LightRAG's files in the background
        (the writes are durable either way)."""
        st = self._state()
        fut = st.flush_futures.get(wait)
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            st.flush_futures[wait] = fut
            st.flush_tasks[wait] = loop.create_task(self._run_flush(st, fut, wait))
        await asyncio.shield(fut)

    async def _run_flush(self, st: _LoopState, fut: asyncio.Future, wait: bool) -> None:
        try:
            await asyncio.sleep(self.config.flush_window)
        finally:
            st.flush_futures.pop(wait, None)
        try:
            await self.call("POST", self.target("/flush", None if wait else {"wait": "false"}))
        except BaseException as e:  # hand every waiter the failure
            if not fut.done():
                fut.set_exception(e)
            if not isinstance(e, Exception):
                raise
        else:
            if not fut.done():
                fut.set_result(None)
        finally:
            # nobody may be waiting any more; mark the exception retrieved
            if fut.done() and not fut.cancelled():
                fut.exception()

    async def aclose(self) -> None:
        """Close this event loop's idle connections."""
        loop = asyncio.get_running_loop()
        st = self._states.pop(loop, None)
        if st is not None:
            await st.pool.aclose()


def _flag(env: Any, name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not a boolean (use 1 or 0)")


def _path(target: str) -> str:
    return target.split("?", 1)[0]


def _parse_retry_after(v: Optional[str]) -> Optional[float]:
    if not v:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _error_from(resp, method: str, target: str) -> ProxyError:
    code, message, hint, rid = f"http_{resp.status}", "", "", resp.headers.get("x-request-id", "")
    try:
        body = json.loads(resp.body) if resp.body else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("code"):
        code = str(body["code"])
        message = str(body.get("message", ""))
        hint = str(body.get("hint", "") or "")
        rid = str(body.get("request_id", "") or rid)
    else:
        message = resp.body.decode("utf-8", "replace").strip()[:500]
    return ProxyError(code, f"{method} {_path(target)}: {message}", status=resp.status, request_id=rid, hint=hint)


if hasattr(asyncio, "timeout"):

    async def _with_timeout(coro, seconds: float):
        async with asyncio.timeout(seconds):
            return await coro

else:  # Python < 3.11

    async def _with_timeout(coro, seconds: float):
        return await asyncio.wait_for(coro, seconds)


_clients: dict[ProxyConfig, ProxyClient] = {}
_clients_lock = threading.Lock()


def get_client(config: Optional[ProxyConfig] = None) -> ProxyClient:
    """The shared client for a configuration (from the environment when
    None), so all storages of one database share one pool and one flush."""
    cfg = config or ProxyConfig.from_env()
    with _clients_lock:
        c = _clients.get(cfg)
        if c is None:
            c = ProxyClient(cfg)
            _clients[cfg] = c
        return c
