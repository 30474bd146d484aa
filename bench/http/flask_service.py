"""The seed's stack as the baseline of bench/http: the dataset service in Flask under gunicorn.

    DATASET_MATRIX=/dev/shm/NAME_matrix gunicorn -w 4 -b 127.0.0.1:PORT \
        --chdir bench/http flask_service:app

Every worker opens the same matrix (a shmpool segment is a valid .npy file) with
numpy.load(mmap_mode='r'): the very pages dataset_service --serve scans. POST /topk takes the
same JSON ({"k": 10, "queries": [[dim floats], ...]}) and answers the same JSON (indices and
scores, best first): numpy's matrix product over blocks of rows, argpartition for the top k.
GET /health as the C++ service's.
"""
import os

import numpy
from flask import Flask, jsonify, request

app = Flask(__name__)
matrix = numpy.load(os.environ["DATASET_MATRIX"], mmap_mode="r")
BLOCK = 65536  # rows per matrix product: the scores of a block stay small


def top_k(queries, k):
    """(indices, scores), each m x k, best first: the k rows of `matrix` with the highest
    dot product with each query."""
    m = queries.shape[0]
    best_i = numpy.empty((m, 0), dtype=numpy.int64)
    best_s = numpy.empty((m, 0), dtype=numpy.float32)
    for start in range(0, matrix.shape[0], BLOCK):
        s = queries @ matrix[start:start + BLOCK].T  # m x block
        kk = min(k, s.shape[1])
        part = numpy.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_i = numpy.concatenate([best_i, part + start], axis=1)
        cand_s = numpy.concatenate([best_s, numpy.take_along_axis(s, part, axis=1)], axis=1)
        keep = numpy.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_i = numpy.take_along_axis(cand_i, keep, axis=1)
        best_s = numpy.take_along_axis(cand_s, keep, axis=1)
    return best_i, best_s


@app.post("/topk")
def topk():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or "queries" not in body:
        return jsonify(error="malformed JSON"), 400
    k = body.get("k", 10)
    try:
        queries = numpy.asarray(body["queries"], dtype=numpy.float32)
    except (TypeError, ValueError):
        return jsonify(error="queries must be vectors of numbers"), 400
    if queries.ndim != 2 or queries.shape[1] != matrix.shape[1] or queries.shape[0] == 0:
        return jsonify(error=f"queries must be m x {matrix.shape[1]}"), 400
    if not isinstance(k, int) or not 1 <= k <= min(1000, matrix.shape[0]):
        return jsonify(error="k out of range"), 400
    indices, scores = top_k(queries, k)
    return jsonify(indices=indices.tolist(), scores=scores.tolist(), worker=os.getpid())


@app.get("/health")
def health():
    return jsonify(status="ok", rows=matrix.shape[0], dim=matrix.shape[1], pid=os.getpid())
