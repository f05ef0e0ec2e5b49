"""LightRAG's storage base classes and types, or compatible stand-ins.

When LightRAG is importable the proxy classes subclass its real bases (so
LightRAG's isinstance checks and abstract-method checks apply); when it is
not, these stand-ins have the same dataclass fields, so the classes still
import, construct and work (their tests run anywhere).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

try:  # pragma: no cover - exercised only where LightRAG is installed
    from lightrag.base import (  # type: ignore[import-not-found]
        BaseGraphStorage,
        BaseKVStorage,
        BaseVectorStorage,
        DocProcessingStatus,
        DocStatus,
        DocStatusStorage,
        StorageNameSpace,
    )

    LIGHTRAG_AVAILABLE = True
except ImportError:
    LIGHTRAG_AVAILABLE = False

    @dataclass
    class StorageNameSpace(ABC):  # type: ignore[no-redef]
        namespace: str
        workspace: str = ""
        global_config: dict[str, Any] = field(default_factory=dict)

        async def initialize(self) -> None:
            return None

        async def finalize(self) -> None:
            return None

        @abstractmethod
        async def index_done_callback(self) -> None: ...

        @abstractmethod
        async def drop(self) -> dict[str, str]: ...

    @dataclass
    class BaseKVStorage(StorageNameSpace, ABC):  # type: ignore[no-redef]
        embedding_func: Any = None

    @dataclass
    class BaseVectorStorage(StorageNameSpace, ABC):  # type: ignore[no-redef]
        embedding_func: Any = None
        cosine_better_than_threshold: float = field(default=0.2)
        meta_fields: set[str] = field(default_factory=set)

    @dataclass
    class BaseGraphStorage(StorageNameSpace, ABC):  # type: ignore[no-redef]
        embedding_func: Any = None

    @dataclass
    class DocStatusStorage(BaseKVStorage, ABC):  # type: ignore[no-redef]
        pass

    class DocStatus(str, Enum):  # type: ignore[no-redef]
        PENDING = "pending"
        PROCESSING = "processing"
        PREPROCESSED = "preprocessed"
        PROCESSED = "processed"
        FAILED = "failed"

    @dataclass
    class DocProcessingStatus:  # type: ignore[no-redef]
        content_summary: str
        content_length: int
        file_path: str
        status: Any
        created_at: str
        updated_at: str
        track_id: str | None = None
        chunks_count: int | None = None
        chunks_list: list[str] | None = field(default_factory=list)
        error_msg: str | None = None
        metadata: dict[str, Any] = field(default_factory=dict)
        multimodal_processed: bool | None = field(default=None, repr=False)

        def __post_init__(self) -> None:
            if self.multimodal_processed is False and self.status == DocStatus.PROCESSED:
                self.status = DocStatus.PREPROCESSED


try:  # pragma: no cover - exercised only where LightRAG is installed
    from lightrag.types import (  # type: ignore[import-not-found]
        KnowledgeGraph,
        KnowledgeGraphEdge,
        KnowledgeGraphNode,
    )
except ImportError:

    @dataclass
    class KnowledgeGraphNode:  # type: ignore[no-redef]
        id: str
        labels: list[str]
        properties: dict[str, Any]

    @dataclass
    class KnowledgeGraphEdge:  # type: ignore[no-redef]
        id: str
        type: str | None
        source: str
        target: str
        properties: dict[str, Any]

    @dataclass
    class KnowledgeGraph:  # type: ignore[no-redef]
        nodes: list[KnowledgeGraphNode] = field(default_factory=list)
        edges: list[KnowledgeGraphEdge] = field(default_factory=list)
        is_truncated: bool = False


def _doc_fields() -> frozenset[str]:
    if dataclasses.is_dataclass(DocProcessingStatus):
        return frozenset(f.name for f in dataclasses.fields(DocProcessingStatus))
    return frozenset()


# The keys DocProcessingStatus(**record) takes in the installed version; any
# other key the proxy sends (a newer field) is dropped instead of raising.
DOC_FIELDS = _doc_fields()


def to_doc_status(record: dict[str, Any]) -> Any:
    """Build a DocProcessingStatus from a normalised doc-status record."""
    data = {k: v for k, v in record.items() if k in DOC_FIELDS} if DOC_FIELDS else dict(record)
    return DocProcessingStatus(**data)


def status_value(status: Any) -> str:
    """The plain string of a DocStatus (or of a string)."""
    return status.value if isinstance(status, Enum) else str(status)
