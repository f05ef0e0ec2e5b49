"""LightRAG's JSON vector query (NanoVectorDB, numpy) as a child of the Go
benchmark adapters/json TestVectorQueryVsNumpy: same matrix, same queries,
timed in this process with numpy's default threads.

argv: MATRIX_FILE ROWS DIM QUERIES_FILE NQUERIES TOP_K THRESHOLD
stdin: one line per query, "<index> <mode>" with mode "argpartition" (m @ q,
then argpartition of the top k) or "argsort" (nano-vectordb 0.0.4.3's own
_cosine_query: np.dot then a full argsort). stdout: one line per query,
"<seconds> <row> <row> ...", best first, threshold applied.
"""
import sys
import time

import numpy as np


def main():
    path, rows, dim, qpath, nq, top_k, threshold = sys.argv[1:8]
    rows, dim, nq, top_k, threshold = int(rows), int(dim), int(nq), int(top_k), float(threshold)
    m = np.fromfile(path, dtype=np.float32).reshape(rows, dim)  # rows are unit length, as NanoVectorDB stores them
    qs = np.fromfile(qpath, dtype=np.float32).reshape(nq, dim)
    print("ready numpy %s" % np.__version__, flush=True)
    for line in sys.stdin:
        i, mode = line.split()
        q = qs[int(i)]
        t0 = time.perf_counter()
        q = q / np.linalg.norm(q)  # NanoVectorDB's normalize
        scores = m @ q
        if mode == "argpartition":
            idx = np.argpartition(scores, -top_k)[-top_k:]
            idx = idx[np.argsort(-scores[idx], kind="stable")]
        else:
            idx = np.argsort(scores)[-top_k:][::-1]
        out = [int(r) for r in idx if scores[r] >= threshold]
        took = time.perf_counter() - t0
        print(took, *out, flush=True)


if __name__ == "__main__":
    main()
