"""Starts the real proxy binary for the tests.

The binary is built once per test process with `go build ./cmd/proxy` (or
taken from HYBRIDRAG_TEST_PROXY_BIN).
"""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ENV_BIN = "HYBRIDRAG_TEST_PROXY_BIN"
ENV_PG = "HYBRIDRAG_TEST_PG"

_build_dir = None
_binary = None


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        raise RuntimeError("the Go toolchain is needed to build the proxy for these tests (go not found)")
    return go


def proxy_binary() -> str:
    """The path of a built proxy binary (built once per process)."""
    global _binary, _build_dir
    if _binary:
        return _binary
    if os.environ.get(ENV_BIN):
        _binary = os.environ[ENV_BIN]
        return _binary
    _build_dir = tempfile.mkdtemp(prefix="hybridrag-pytest-bin-")
    atexit.register(shutil.rmtree, _build_dir, True)
    out = os.path.join(_build_dir, "proxy")
    pkg = "./cmd/proxy"
    res = subprocess.run([_go(), "build", "-o", out, pkg], cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"go build {pkg} failed:\n{res.stdout}{res.stderr}")
    _binary = out
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_dsn() -> str | None:
    """HYBRIDRAG_TEST_PG, or None. Without it the PostgreSQL tests skip,
    except under CI, where they fail (a skipped PG suite must not pass CI)."""
    dsn = os.environ.get(ENV_PG, "").strip()
    if not dsn and os.environ.get("CI"):
        raise AssertionError(f"{ENV_PG} is not set but CI is: the PostgreSQL tests must run in CI")
    return dsn or None


def require_pg() -> str:
    dsn = pg_dsn()
    if dsn is None:
        raise unittest.SkipTest(f"set {ENV_PG} (e.g. postgres://postgres@127.0.0.1:5432/hybridrag_test?sslmode=disable)")
    return dsn


class BackendNotBuiltIn(RuntimeError):
    """The proxy binary has no opener for a backend type of the registry."""


class ProxyServer:
    """One proxy process on a free 127.0.0.1 port with a temporary registry."""

    def __init__(self, databases: dict[str, dict[str, str]], token: str = "",
                 backends: dict[str, dict[str, str]] | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="hybridrag-pytest-")
        self.data = os.path.join(self.dir, "data")
        self.registry = os.path.join(self.dir, "registry.yaml")
        self.token = token
        lines = ["version: 1"]
        if backends:
            lines.append("backends:")
            for name, entry in backends.items():
                lines.append(f"  {name}:")
                for k, v in entry.items():
                    lines.append(f"    {k}: {_yaml_str(v)}")
        lines.append("databases:")
        for name, entry in databases.items():
            lines.append(f"  {name}:")
            for k, v in entry.items():
                lines.append(f"    {k}: {_yaml_str(v)}")
        with open(self.registry, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.dir, "proxy.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ProxyServer":
        binary = proxy_binary()
        last_err = ""
        for _ in range(3):  # the free port can be taken between probe and bind
            self.port = free_port()
            args = [binary, "serve", "--registry", self.registry, "--data", self.data,
                    "--listen", f"127.0.0.1:{self.port}"]
            if self.token:
                args += ["--token", self.token]
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
            log.close()
            if self._wait_healthy(20.0):
                return self
            last_err = self.log()
            self.stop()
            if "no opener for backend" in last_err:
                raise BackendNotBuiltIn(last_err.strip().splitlines()[-1])
        raise RuntimeError(f"the proxy did not start:\n{last_err}")

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _yaml_str(v: str) -> str:
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
