"""register(): make the classes selectable by name in LightRAG."""

from __future__ import annotations

# LightRAG storage type -> our class name.
CLASSES = {
    "KV_STORAGE": "ProxyKVStorage",
    "VECTOR_STORAGE": "ProxyVectorStorage",
    "GRAPH_STORAGE": "ProxyGraphStorage",
    "DOC_STATUS_STORAGE": "ProxyDocStatusStorage",
}

MODULE = "hybridrag_proxy"


def register() -> bool:
    """Add the four classes to LightRAG's storage registries
    (lightrag.kg.STORAGE_IMPLEMENTATIONS, STORAGES and
    STORAGE_ENV_REQUIREMENTS), in place, so that
    ``LightRAG(kv_storage="ProxyKVStorage", ...)`` works.

    Call it before constructing LightRAG. Returns False (and does nothing)
    when LightRAG is not installed. Safe to call more than once.
    """
    try:
        import lightrag.kg as kg  # type: ignore[import-not-found]
    except ImportError:
        return False
    impls = getattr(kg, "STORAGE_IMPLEMENTATIONS", None)
    storages = getattr(kg, "STORAGES", None)
    env_reqs = getattr(kg, "STORAGE_ENV_REQUIREMENTS", None)
    if not isinstance(impls, dict) or not isinstance(storages, dict):
        return False
    for storage_type, name in CLASSES.items():
        entry = impls.setdefault(storage_type, {"implementations": [], "required_methods": []})
        names = entry.setdefault("implementations", [])
        if name not in names:
            names.append(name)
        storages[name] = MODULE
        if isinstance(env_reqs, dict):
            # Every setting has a default (see hybridrag_proxy.client), so
            # LightRAG's environment check has nothing to require.
            env_reqs.setdefault(name, [])
    return True
