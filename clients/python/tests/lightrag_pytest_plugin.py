"""A pytest plugin (`-p lightrag_pytest_plugin`) that points LightRAG's own,
unmodified graph tests at ProxyGraphStorage:

- tests/test_graph_storage.py picks its class by LIGHTRAG_GRAPH_STORAGE from
  LightRAG's storage registry; register() adds ProxyGraphStorage to it (the
  caller sets LIGHTRAG_GRAPH_STORAGE=ProxyGraphStorage).
- tests/test_batch_graph_operations.py builds `NetworkXStorage(...)` from
  `lightrag.kg.networkx_impl`; that name is replaced, before the test module
  imports it, by a ProxyGraphStorage that takes a fresh workspace per
  instance (each test expects an empty graph, and NetworkXStorage's one is
  a fresh temporary folder).

The proxy is found through HYBRIDRAG_PROXY_URL / _DB / _TOKEN.
"""

from __future__ import annotations

import itertools
import os

import lightrag.kg.networkx_impl as networkx_impl

import hybridrag_proxy
from hybridrag_proxy import ProxyGraphStorage

assert hybridrag_proxy.register(), "LightRAG's storage registry was not found"

_counter = itertools.count()


class NetworkXStorageOverProxy(ProxyGraphStorage):
    """What test_batch_graph_operations.py gets when it asks for NetworkXStorage."""

    def __init__(self, namespace, workspace=None, global_config=None, embedding_func=None, **kwargs):
        fresh = f"{workspace or 'ws'}_{os.getpid()}_{next(_counter)}"
        super().__init__(namespace=namespace, workspace=fresh, global_config=global_config,
                         embedding_func=embedding_func, **kwargs)


networkx_impl.NetworkXStorage = NetworkXStorageOverProxy
