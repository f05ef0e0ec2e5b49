"""LightRAG storage classes backed by the HybridRAG storage proxy.

    from hybridrag_proxy import register
    register()
    rag = LightRAG(working_dir=..., kv_storage="ProxyKVStorage",
                   vector_storage="ProxyVectorStorage",
                   graph_storage="ProxyGraphStorage",
                   doc_status_storage="ProxyDocStatusStorage", ...)

The proxy's address, database and token come from HYBRIDRAG_PROXY_URL
(default http://127.0.0.1:8080), HYBRIDRAG_PROXY_DB (default "default") and
HYBRIDRAG_PROXY_TOKEN. Standard library only.
"""

from .bases import LIGHTRAG_AVAILABLE, DocProcessingStatus, DocStatus, KnowledgeGraph
from .client import ProxyClient, ProxyConfig, get_client
from .docstatus import ProxyDocStatusStorage
from .errors import ProxyError
from .graph import ProxyGraphStorage
from .kv import ProxyKVStorage
from .registration import register
from .vector import ProxyVectorStorage

__version__ = "0.1.0"

__all__ = [
    "LIGHTRAG_AVAILABLE",
    "DocProcessingStatus",
    "DocStatus",
    "KnowledgeGraph",
    "ProxyClient",
    "ProxyConfig",
    "ProxyDocStatusStorage",
    "ProxyError",
    "ProxyGraphStorage",
    "ProxyKVStorage",
    "ProxyVectorStorage",
    "get_client",
    "register",
]
