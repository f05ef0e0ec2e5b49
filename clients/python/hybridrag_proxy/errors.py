"""The exception every failed proxy call raises."""

from __future__ import annotations


class ProxyError(Exception):
    """A call to the storage proxy failed.

    Attributes:
        code: the proxy's stable error code (e.g. ``unknown_database``,
            ``dimension_mismatch``), or ``unavailable`` / ``timeout`` when the
            proxy could not be reached or did not answer in time.
        message: what is wrong.
        status: the HTTP status (0 when no answer arrived).
        request_id: the proxy's X-Request-Id, to find the call in its log.
        hint: how to fix it, when the proxy gave one.
    """

    def __init__(self, code: str, message: str, status: int = 0, request_id: str = "", hint: str = "") -> None:
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        s = f"{self.code}: {self.message}"
        if self.status:
            s += f" (HTTP {self.status}"
            s += f", request {self.request_id})" if self.request_id else ")"
        if self.hint:
            s += f"; hint: {self.hint}"
        return s

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (type(self), (self.code, self.message, self.status, self.request_id, self.hint))
