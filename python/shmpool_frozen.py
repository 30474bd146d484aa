"""Read a shmpool frozen store (shmpool::frozen) from Python, with numpy alone.

Every column comes back as read-only numpy views that share memory with the store: nothing is
copied or deserialised. Key lookups need python3-xxhash (the store's indexes hash keys with
XXH3-64, seed 0); everything else is numpy.

    import shmpool_frozen
    store = shmpool_frozen.open("catalogue")          # /dev/shm/catalogue, or SHMPOOL_SHM_DIR
    names = store.strings("name")
    tags = store.ragged("tags")                         # tags[r]: a numpy array
    row = store.index("by_name").find("key0000042")     # a row, or None
    sums = tags.row_sums()                              # every row's sum, no Python loop
    features = store.array("features")                  # shape (rows, 16)

The layout is the one src/format/frozen_format.hpp describes.
"""
import os
import struct

import numpy as np

__all__ = ["open", "FrozenStore", "FormatError"]

_MAGIC = b"SHMPFRZ1"
_VERSION = 1
_HEADER = struct.Struct("<8sIIQQQ24x")  # magic, version, columns, rows, toc_offset, body_bytes
_COLUMN = struct.Struct("<128sII8sII4QII8Q")
_KINDS = {1: "array", 2: "ragged", 3: "strings", 4: "index"}
_DEDUP, _ROWS32, _INT_KEYS, _OFFSETS32 = 1, 2, 4, 8


class FormatError(ValueError):
    """The file is not a frozen store, or a corrupt one (the message says where)."""


def _path_of(name):
    if "/" in name:
        return name
    return os.path.join(os.environ.get("SHMPOOL_SHM_DIR") or "/dev/shm", name)


class _Column:
    def __init__(self, raw, body, rows, who):
        (name, kind, flags, descr, rank, keys, d0, d1, d2, d3, bucket_bits, sections,
         *sec) = raw
        self.name = name.split(b"\0", 1)[0].decode()
        self.kind = _KINDS.get(kind)
        if self.kind is None:
            raise FormatError(f"{who}: column {self.name!r} has an unknown kind {kind}")
        self.flags, self.rank, self.keys_column = flags, rank, keys
        self.dtype = np.dtype(descr.split(b"\0", 1)[0].decode())
        self.dims = (d0, d1, d2, d3)[:rank] if self.kind == "array" else ()
        self.bucket_bits = bucket_bits
        if sections > 4:
            raise FormatError(f"{who}: column {self.name!r} has {sections} sections")
        self.sections = []
        for k in range(sections):
            offset, size = sec[2 * k], sec[2 * k + 1]
            if offset % 4096 or offset + size > len(body):
                raise FormatError(f"{who}: column {self.name!r}: section {k} lies outside the "
                                  "store (truncated or corrupt)")
            self.sections.append(body[offset:offset + size])

    def section(self, k, dtype):
        return self.sections[k].view(dtype)


class Ragged:
    """A ragged column: ragged[r] is row r's values (a numpy view)."""

    def __init__(self, column, rows):
        self.rows = rows
        self.deduplicated = bool(column.flags & _DEDUP)
        width = "<u4" if column.flags & _OFFSETS32 else "<u8"
        if self.deduplicated:
            self.starts = column.section(0, width)
            self.ends = column.section(1, width)
            self.values = column.section(2, column.dtype)
        else:
            offsets = column.section(0, width)
            self.starts, self.ends = offsets[:-1], offsets[1:]
            self.values = column.section(1, column.dtype)

    def __len__(self):
        return self.rows

    def __getitem__(self, r):
        return self.values[int(self.starts[r]):int(self.ends[r])]

    def lengths(self):
        return (self.ends - self.starts).astype(np.int64)

    def row_sums(self, dtype=None):
        """Every row's sum, vectorised (no Python loop), in `dtype` (default: numpy's for a
        sum of the values: float32 stays float32, ints widen to int64 / uint64)."""
        if dtype is None:
            dtype = np.add.reduce(self.values[:0]).dtype
        if self.rows == 0 or len(self.values) == 0:
            return np.zeros(self.rows, dtype=dtype)
        if not self.deduplicated:  # rows stored in order, back to back: one reduceat
            starts = self.starts.astype(np.intp)
            # reduceat needs indices below len(values): empty rows at the end are left out.
            last = int(np.searchsorted(starts, len(self.values), side="left"))
            out = np.zeros(self.rows, dtype=dtype)
            out[:last] = np.add.reduceat(self.values, starts[:last], dtype=dtype)
            out[:last][starts[:last] == self.ends[:last]] = 0  # reduceat gives an empty row values[start]
            return out
        acc = np.zeros(len(self.values) + 1, dtype=np.float64 if np.dtype(dtype).kind == "f" else np.int64)
        np.cumsum(self.values, out=acc[1:])
        return (acc[self.ends.astype(np.intp)] - acc[self.starts.astype(np.intp)]).astype(dtype)


class Strings(Ragged):
    """A strings column: strings[r] is row r's text (str); .raw(r) its bytes as numpy."""

    def __getitem__(self, r):
        return self.raw(r).tobytes().decode()

    def raw(self, r):
        return Ragged.__getitem__(self, r)


class Index:
    """A key index: find(key) is the key's row or None (str, bytes or int keys)."""

    def __init__(self, column, keys_column, store):
        import xxhash  # python3-xxhash: the format's XXH3-64
        self._xxh3 = xxhash.xxh3_64_intdigest
        self.hashes = column.section(0, "<u8")
        self.rows = column.section(1, "<u4" if column.flags & _ROWS32 else "<u8")
        self.directory = column.section(2, "<u8")
        self.bits = column.bucket_bits
        self.int_keys = bool(column.flags & _INT_KEYS)
        self._keys = (store.array(keys_column.name) if self.int_keys
                      else store.strings(keys_column.name))

    def find(self, key):
        if self.int_keys:
            if not isinstance(key, (int, np.integer)):
                return None
            data = struct.pack("<q", int(key))
        else:
            if isinstance(key, (int, np.integer)):
                return None
            data = key.encode() if isinstance(key, str) else bytes(key)
        h = self._xxh3(data)
        b = h >> (64 - self.bits) if self.bits else 0
        lo, hi = int(self.directory[b]), int(self.directory[b + 1])
        at = lo + int(np.searchsorted(self.hashes[lo:hi], np.uint64(h)))
        while at < hi and int(self.hashes[at]) == h:
            row = int(self.rows[at])
            stored = (struct.pack("<q", int(self._keys[row])) if self.int_keys
                      else self._keys.raw(row).tobytes())
            if stored == data:
                return row
            at += 1
        return None

    def __getitem__(self, key):
        row = self.find(key)
        if row is None:
            raise KeyError(key)
        return row


class FrozenStore:
    """A frozen store, mapped read-only (numpy.load with mmap_mode='r')."""

    def __init__(self, name_or_path):
        self.path = _path_of(name_or_path)
        self.who = f"frozen store {self.path!r}"
        body = np.load(self.path, mmap_mode="r")
        if body.dtype != np.uint8 or body.ndim != 1:
            raise FormatError(f"{self.who}: not a frozen store (a {body.dtype} array "
                              f"of shape {body.shape})")
        self.body = body
        if len(body) < _HEADER.size:
            raise FormatError(f"{self.who}: too small for a frozen store")
        magic, version, columns, rows, toc_offset, body_bytes = _HEADER.unpack(
            body[:_HEADER.size].tobytes())
        if magic != _MAGIC:
            raise FormatError(f"{self.who}: not a frozen store (bad magic)")
        if version != _VERSION:
            raise FormatError(f"{self.who}: version {version}, this module reads {_VERSION}")
        if body_bytes != len(body) or toc_offset + columns * _COLUMN.size > len(body):
            raise FormatError(f"{self.who}: truncated or corrupt")
        self.rows = rows
        self._columns = []
        for k in range(columns):
            at = toc_offset + k * _COLUMN.size
            raw = _COLUMN.unpack(body[at:at + _COLUMN.size].tobytes())
            self._columns.append(_Column(raw, body, rows, self.who))

    def columns(self):
        """[(name, kind, dtype, shape)] in the order they were built."""
        return [(c.name, c.kind, str(c.dtype), (self.rows, *c.dims)) for c in self._columns]

    def _column(self, name, kind):
        for c in self._columns:
            if c.name == name:
                if c.kind != kind:
                    raise TypeError(f"{self.who}: column {name!r} is {c.kind}, not {kind}")
                return c
        have = ", ".join(f"{c.name} ({c.kind})" for c in self._columns)
        raise KeyError(f"{self.who} has no column {name!r}; it has {have or 'none'}")

    def array(self, name):
        c = self._column(name, "array")
        return c.section(0, c.dtype).reshape((self.rows, *c.dims))

    def ragged(self, name):
        return Ragged(self._column(name, "ragged"), self.rows)

    def strings(self, name):
        return Strings(self._column(name, "strings"), self.rows)

    def index(self, name):
        c = self._column(name, "index")
        return Index(c, self._columns[c.keys_column], self)


def open(name_or_path):  # noqa: A001 (as shmpool::frozen::open)
    """The store NAME of /dev/shm (or SHMPOOL_SHM_DIR), or the file at a path with a '/'."""
    return FrozenStore(name_or_path)
