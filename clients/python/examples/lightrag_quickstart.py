"""LightRAG with every storage behind the HybridRAG storage proxy.

Start a proxy and register a database first (docs/hybridrag.md, section 1), then:

    export HYBRIDRAG_PROXY_URL=http://127.0.0.1:8080 HYBRIDRAG_PROXY_DB=hybridrag HYBRIDRAG_PROXY_TOKEN=...
    python3 lightrag_quickstart.py

The two model functions below are small offline stand-ins so that the example runs anywhere (CI runs it as it is).
In HybridRAG pass its real ones instead, e.g. lightrag.llm.openai's gpt_4o_mini_complete and openai_embed.
"""

import asyncio
import hashlib
import re

import numpy as np
from hybridrag_proxy import register
from lightrag import LightRAG, QueryParam
from lightrag.kg.shared_storage import initialize_pipeline_status
from lightrag.utils import EmbeddingFunc, Tokenizer

register()  # adds the four Proxy* classes to LightRAG's storage registry


async def demo_llm(prompt, system_prompt=None, history_messages=None, keyword_extraction=False, **kwargs) -> str:
    """Stand-in LLM: capitalised words become entities, neighbours become relations."""
    text = (system_prompt or "") + prompt
    if "User Query:" in text:  # keyword extraction for a query
        words = re.findall(r"\b[A-Z][a-z]+\b", text.split("User Query:")[-1])
        return '{"high_level_keywords": ["storage"], "low_level_keywords": %s}' % [w for w in words][:5]
    if "Based on the last" in prompt:  # the gleaning pass: nothing more to add
        return "<|COMPLETE|>"
    if "```" not in text:
        return "A stand-in answer."
    passage = text.rsplit("```", 2)[-2]
    names = list(dict.fromkeys(re.findall(r"\b[A-Z][a-zA-Z]{3,}\b", passage)))[:6]
    d = "<|#|>"
    lines = [f"entity{d}{n}{d}concept{d}{n} is mentioned in the text." for n in names]
    lines += [f"relation{d}{a}{d}{b}{d}mentioned together{d}{a} and {b} appear together." for a, b in zip(names, names[1:])]
    return "\n".join(lines + ["<|COMPLETE|>"])


async def demo_embed(texts: list[str]) -> np.ndarray:
    """Stand-in embedding: 64 numbers from a hash of the text."""
    return np.array([[b / 255 - 0.5 for b in hashlib.sha512(t.encode()).digest()] for t in texts], dtype=np.float32)


class CharTokenizer:  # LightRAG's default tokenizer needs tiktoken; any encode/decode pair works
    def encode(self, content: str) -> list[int]:
        return [ord(c) for c in content]

    def decode(self, tokens: list[int]) -> str:
        return "".join(map(chr, tokens))


async def main() -> None:
    rag = LightRAG(
        working_dir="./rag_storage",  # LightRAG wants one; with the proxy no storage file is written there
        kv_storage="ProxyKVStorage",
        vector_storage="ProxyVectorStorage",
        graph_storage="ProxyGraphStorage",
        doc_status_storage="ProxyDocStatusStorage",
        llm_model_func=demo_llm,
        embedding_func=EmbeddingFunc(embedding_dim=64, func=demo_embed),
        tokenizer=Tokenizer("chars", CharTokenizer()),
    )
    await rag.initialize_storages()  # fails here, clearly, if the proxy or the database cannot be reached
    await initialize_pipeline_status()  # LightRAG 1.4.9.x needs this call; later releases do it themselves
    try:
        await rag.ainsert("HybridRAG keeps its Knowledge Graph in PostgreSQL behind the Storage Proxy.")
        context = await rag.aquery("Where does HybridRAG keep its Knowledge Graph?",
                                   param=QueryParam(mode="hybrid", only_need_context=True))
        print(context)
        print("entities:", sorted(await rag.chunk_entity_relation_graph.get_all_labels()))
    finally:
        await rag.finalize_storages()


if __name__ == "__main__":
    asyncio.run(main())
