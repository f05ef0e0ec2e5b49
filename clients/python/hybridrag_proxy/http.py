"""A small HTTP/1.1 keep-alive connection pool on asyncio streams.

The storage calls LightRAG makes are small and many (thousands per
document), so the cost that matters is per request: connections are reused
(LIFO, so a warm one is taken), the request is written in one go, and the
response is parsed with a minimum of work. Only what the proxy sends is
supported: Content-Length or chunked bodies, keep-alive by default.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from typing import Optional

# Largest header block accepted from the server.
_STREAM_LIMIT = 1 << 20


class StaleConnection(Exception):
    """A reused connection was closed by the server before it answered."""


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # the loop may already be closed
            pass


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Pool:
    """Connections to one host:port, bound to the event loop that made it.

    At most ``size`` requests are in flight at once (others wait for a
    connection); idle connections are kept for reuse.
    """

    def __init__(self, host: str, port: int, use_tls: bool, size: int, connect_timeout: float) -> None:
        self._host = host
        self._port = port
        self._ssl: Optional[ssl_module.SSLContext] = ssl_module.create_default_context() if use_tls else None
        self._sem = asyncio.Semaphore(size)
        self._idle: list[_Conn] = []
        self._connect_timeout = connect_timeout
        self._closed = False
        self.opened = 0  # connections opened so far (tests, diagnostics)

    async def _connect(self) -> _Conn:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port, ssl=self._ssl, limit=_STREAM_LIMIT),
            self._connect_timeout,
        )
        self.opened += 1
        return _Conn(reader, writer)

    def _take_idle(self) -> Optional[_Conn]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def roundtrip(self, request: bytes, head_only: bool = False) -> Response:
        """Send one complete request (head and body bytes) and read the answer.

        A reused connection that turns out to be closed by the server (idle
        timeout) is replaced once by a fresh one.
        """
        async with self._sem:
            for _ in range(2):
                conn = self._take_idle()
                reused = conn is not None
                if conn is None:
                    conn = await self._connect()
                try:
                    resp, keep = await _exchange(conn, request, head_only)
                except StaleConnection:
                    conn.close()
                    if reused:
                        continue
                    raise ConnectionResetError("the proxy closed the connection without answering") from None
                except BaseException:
                    conn.close()  # state unknown (timeout, cancel, error): never reuse
                    raise
                if keep and not self._closed:
                    self._idle.append(conn)
                else:
                    conn.close()
                return resp
            raise ConnectionResetError("the proxy closed the connection without answering")

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        self._closed = True
        for conn in idle:
            conn.close()
        for conn in idle:
            try:
                await conn.writer.wait_closed()
            except Exception:
                pass


async def _exchange(conn: _Conn, request: bytes, head_only: bool) -> tuple[Response, bool]:
    reader, writer = conn.reader, conn.writer
    try:
        writer.write(request)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            raise StaleConnection() from None
        raise
    except (ConnectionResetError, BrokenPipeError):
        raise StaleConnection() from None

    lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ConnectionError(f"bad HTTP status line from the proxy: {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"

    if head_only or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers end with an empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif "content-length" in headers:
        n = int(headers["content-length"])
        body = await reader.readexactly(n) if n else b""
    else:
        body = await reader.read()
        keep = False
    return Response(status, headers, body), keep
