"""Reads the store tests/test_frozen.cpp built (name and rows in argv) with numpy alone
(python/shmpool_frozen.py) and checks every column, the indexes and the vectorised row sums."""
import sys

import numpy as np
import shmpool_frozen

name, n = sys.argv[1], int(sys.argv[2])
store = shmpool_frozen.open(name)
assert store.rows == n, store.rows
cols = store.columns()
assert [c[0] for c in cols] == ["name", "id", "features", "tags", "related", "by_name", "by_id"], cols

names = store.strings("name")
ids = store.array("id")
features = store.array("features")
tags = store.ragged("tags")
related = store.ragged("related")
assert features.shape == (n, 3) and features.dtype == np.float32
assert not features.flags.writeable, "views are read-only"
i = np.arange(n)
assert (ids == i * 1000 - 7).all()
assert (features[:, 1] == i.astype(np.float32) + 0.5).all()
assert (tags.lengths() == i % 5).all()
assert (tags.row_sums() == (i % 5) * (i % 3)).all(), "vectorised sums of a de-duplicated column"
assert (related.lengths() == i % 4).all()
expected = np.array([sum((r + k) % n for k in range(1, r % 4 + 1)) for r in range(n)])
assert (related.row_sums() == expected).all(), "vectorised sums of a column stored in order"
assert related.row_sums().dtype == np.int64
for r in (0, 1, n // 2, n - 1):
    assert names[r] == "key%07d" % r, names[r]
    assert list(related[r]) == [(r + k) % n for k in range(1, r % 4 + 1)]
by_name, by_id = store.index("by_name"), store.index("by_id")
for r in range(0, n, max(1, n // 97)):
    assert by_name.find("key%07d" % r) == r, r
    assert by_id[r * 1000 - 7] == r, r
assert by_name.find("nokey") is None and by_id.find(1) is None and by_name.find(-7) is None
try:
    store.ragged("name")
    raise AssertionError("a strings column read as ragged")
except TypeError as e:
    assert "is strings, not ragged" in str(e), e
print("frozen_reader: OK")
