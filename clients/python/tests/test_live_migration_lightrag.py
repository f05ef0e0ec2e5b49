"""Real LightRAG keeps ingesting while its database moves live, and back.

LightRAG (../shared/lightrag-py) runs its whole pipeline deterministically
(lightrag_driver.py: insert, duplicate re-insert, delete, re-insert, a query
in every mode) through the proxy's storage classes, twice: once on a JSON
database that stays put, once on a JSON database that is live-migrated to
PostgreSQL while the ingest runs and then rolled back to its JSON folder,
also while it runs. No request of LightRAG fails, both moves verify and cut
over, and the query contexts of the two runs are equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import unittest
import uuid

from .helpers import drop_pg_workspace
from .proxyserver import REPO, ProxyServer, require_pg
from .test_migration import http_json

SHARED = REPO.parent / "shared"
LIGHTRAG_PY = SHARED / "lightrag-py"
LIGHTRAG = LIGHTRAG_PY / "lightrag-1.4.16"
SYSTEM_PYTHON = os.environ.get("HYBRIDRAG_TEST_LIGHTRAG_PYTHON", "/usr/bin/python3")
DRIVER = REPO / "clients" / "python" / "tests" / "lightrag_driver.py"
DOCS = 8
WAIT = 300.0  # seconds, generous: the machine may be busy


def lightrag_or_skip() -> None:
    if not LIGHTRAG.is_dir() or not os.path.exists(SYSTEM_PYTHON):
        if os.environ.get("CI"):
            raise AssertionError(f"LightRAG ({LIGHTRAG}) or {SYSTEM_PYTHON} is missing in CI")
        raise unittest.SkipTest(f"needs {LIGHTRAG} and {SYSTEM_PYTHON}")


def driver(url: str, db: str, workdir: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED="0", HYBRIDRAG_PROXY_URL=url, HYBRIDRAG_PROXY_DB=db,
               PYTHONPATH=os.pathsep.join([str(LIGHTRAG), str(LIGHTRAG_PY / "deps"), str(REPO / "clients" / "python")]))
    return subprocess.Popen([SYSTEM_PYTHON, str(DRIVER), "pipeline", "--storage", "proxy", "--dir", workdir,
                             "--docs", str(DOCS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def finish(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=WAIT)
    if p.returncode != 0:
        raise AssertionError(f"LightRAG failed ({p.returncode}):\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


class LiveMigrationWithLightRAG(unittest.TestCase):
    def test_ingest_through_live_migration_and_rollback(self) -> None:
        lightrag_or_skip()
        dsn = require_pg()
        ws = "live_" + uuid.uuid4().hex[:8]
        srv = ProxyServer({"base": {"backend": "json", "path": "base"}, "moving": {"backend": "json", "path": "moving"}}).start()
        self.addCleanup(srv.cleanup)
        self.addCleanup(lambda: drop_pg_workspace(dsn, ws))
        base = driver(srv.url, "base", os.path.join(srv.dir, "work-base"))
        moving = driver(srv.url, "moving", os.path.join(srv.dir, "work-moving"))

        def live(path: str, body: dict) -> dict:
            status, _, st = http_json("POST", f"{srv.url}/v1/databases/moving/migration{path}", body)
            self.assertEqual(202, status, st)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                status, _, st = http_json("GET", f"{srv.url}/v1/databases/moving/migration")
                self.assertEqual(200, status, st)
                if st["state"] in ("done", "aborted", "failed"):
                    return st
                time.sleep(0.1)
            raise AssertionError(f"the live migration did not end: {st}")

        time.sleep(2)  # LightRAG has written its first records
        settings = {"clean_requests": 20, "clean_minutes": 0, "abort_after_seconds": 60}
        fwd = live("", {"to": "postgres", "dsn": dsn, "workspace": ws, "embedding_model": "fake_hash_embed", "mode": "live", **settings})
        self.assertEqual("done", fwd["state"], fwd)
        self.assertEqual(0, fwd["shadow"]["mismatches"], fwd["shadow"])
        self.assertIsNone(moving.poll(), "LightRAG finished before the rollback: give it more documents")
        back = live("/rollback", settings)
        self.assertEqual("done", back["state"], back)
        self.assertTrue(back["rollback"])
        self.assertEqual(0, back["shadow"]["mismatches"], back["shadow"])
        moved, kept = finish(moving), finish(base)
        self.assertEqual(kept["contexts"], moved["contexts"])
        self.assertEqual(kept["doc_ids"], moved["doc_ids"])
        _, _, info = http_json("GET", f"{srv.url}/v1/databases/moving/backend")
        self.assertEqual("json", info["type"], info)
        print(f"live migration during LightRAG ingest: forward {fwd['records']} records copied, "
              f"{fwd['shadow']['compared']} shadow reads; rollback {back['records']} records, "
              f"{back['shadow']['compared']} shadow reads", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
