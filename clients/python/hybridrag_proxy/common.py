"""What the four storage classes share: the client, paths and lifecycle."""

from __future__ import annotations

import logging
from typing import Any, Optional
from urllib.parse import quote, urlencode

from .client import ProxyClient, get_client
from .errors import ProxyError

logger = logging.getLogger("hybridrag_proxy")

DROPPED = {"status": "success", "message": "data dropped"}

# Page size for the scan routes (the API's maximum).
SCAN_PAGE = 10000


class ProxyStorageMixin:
    """Mixed into each storage class ahead of LightRAG's base.

    Not a dataclass: it adds no fields, only behaviour, so the LightRAG
    constructor keywords (namespace, workspace, global_config, ...) stay
    exactly LightRAG's.
    """

    _client: ProxyClient
    _kind: str
    _params: dict[str, Any]

    def _proxy_setup(self, kind: str, client: Optional[ProxyClient] = None, **extra_params: Any) -> None:
        self._client = client or get_client()
        self._kind = kind
        ws = getattr(self, "workspace", "") or ""
        # Without a workspace the database's registry workspace applies.
        params: dict[str, Any] = {"workspace": ws} if ws else {}
        params.update({k: v for k, v in extra_params.items() if v})
        self._params = params
        ns = getattr(self, "namespace")
        if not ns:
            raise ValueError("namespace is empty: LightRAG passes one per storage")
        self._root = self._client.target(f"/{kind}/{_seg(ns)}")
        self._qs = ""
        if params:
            self._qs = "?" + urlencode(params)
        self._initialized = False

    @property
    def proxy_client(self) -> ProxyClient:
        return self._client

    def _t(self, sub: str = "", extra: Optional[dict[str, Any]] = None) -> str:
        t = self._root + sub + self._qs
        if extra:
            t += ("&" if self._qs else "?") + urlencode(extra)
        return t

    async def _post(self, sub: str, body: Any) -> Any:
        return await self._client.call("POST", self._t(sub), body)

    async def _get(self, sub: str = "", extra: Optional[dict[str, Any]] = None) -> Any:
        return await self._client.call("GET", self._t(sub, extra))

    async def initialize(self) -> None:
        # Fail at startup (not at the first write) when the proxy, the
        # database or the namespace cannot be served.
        await self._get()
        self._initialized = True

    async def finalize(self) -> None:
        if getattr(self, "_initialized", False):
            self._initialized = False
            try:
                await self._client.flush()
            except ProxyError as e:
                logger.warning("hybridrag_proxy: flush at finalize of %s failed: %s", self.namespace, e)

    async def index_done_callback(self) -> None:
        # LightRAG calls this after every document: the writes are durable
        # already, so by default the proxy rewrites its files in the
        # background (ProxyConfig.flush_wait); finalize waits for them.
        await self._client.flush(wait=self._client.config.flush_wait)

    async def drop(self) -> dict[str, str]:
        try:
            await self._client.call("DELETE", self._t())
        except ProxyError as e:
            logger.error("hybridrag_proxy: drop %s failed: %s", self.namespace, e)
            return {"status": "error", "message": str(e)}
        return dict(DROPPED)

    async def health_check(self, max_retries: int = 3) -> dict[str, Any]:
        try:
            await self._client.call("GET", self._client.target(""))
        except ProxyError as e:
            return {"status": "unhealthy", "error": str(e)}
        return {"status": "healthy"}


def _seg(s: str) -> str:
    return quote(s, safe="")
