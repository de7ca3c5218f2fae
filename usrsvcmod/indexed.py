"""A file of named marshal blobs, any one of which is read without the others.

``usrsvc status NAME`` among ten thousand programs must not read, let alone
unpack, ten thousand of anything: the config cache and usrsvcd's view are
such files. Layout: an 8-byte little-endian length, the head (marshal of
(the caller's head, the bucket count, each bucket's (offset, length), the
(offset, length) of the list of names in order)), then the buckets (each a
marshal dict name -> (offset, length) of its blob; a name's bucket is its
CRC-32 modulo the count), the list of names, and the blobs. Offsets count
from the end of the head. Looking a name up reads the head, one bucket of
about 32 names, and the blob.

A reader trusts nothing it reads: every offset is checked against the file's
size and every decoded value's type; what is wrong raises ValueError. Imports nothing of usrsvcmod (config uses it).
"""

import marshal

LENGTH = 8
PER_BUCKET = 32
_UNDECODABLE = (EOFError, ValueError, TypeError, OverflowError)


def _bucket(name, count):
    import binascii  # 0.2 ms to import; zlib's crc32 is the same and slower to import

    return binascii.crc32(name.encode("utf-8", "surrogatepass")) % count


def pack(head, blobs):
    """The file's bytes: ``head`` (marshal data) and ``blobs``, [(name, bytes)] in order."""
    count = max(1, len(blobs) // PER_BUCKET)
    buckets = [{} for _ in range(count)]
    at = 0
    for name, blob in blobs:
        buckets[_bucket(name, count)][name] = (at, len(blob))
        at += len(blob)
    parts, spans, offset = [], [], 0
    for bucket in buckets:
        data = marshal.dumps(bucket)
        spans.append((offset, len(data)))
        parts.append(data)
        offset += len(data)
    names = marshal.dumps([name for name, _ in blobs])
    parts.append(names)
    order = (offset, len(names))
    base = offset + len(names)  # the blobs follow: their offsets are counted from here
    top = marshal.dumps((head, count, tuple(spans), order, base))
    return len(top).to_bytes(LENGTH, "little") + top + b"".join(parts) + b"".join(
        blob for _, blob in blobs)


def _span(value, size):
    return type(value) is tuple and len(value) == 2 and type(value[0]) is int \
        and type(value[1]) is int and 0 <= value[0] and 0 <= value[1] \
        and value[0] + value[1] <= size


class Reader:
    """One packed file through ``read(offset, length)`` (bytes) of ``size`` bytes.

    Raises ValueError when the head is not one pack() wrote."""

    def __init__(self, read, size):
        self._read, self._size = read, size
        if size < LENGTH:
            raise ValueError("no head")
        length = int.from_bytes(read(0, LENGTH), "little")
        if not 0 < length <= size - LENGTH:
            raise ValueError("no head")
        try:
            top = marshal.loads(read(LENGTH, length))
        except _UNDECODABLE:
            raise ValueError("no head") from None
        self._start = LENGTH + length
        rest = size - self._start
        if type(top) is not tuple or len(top) != 5:
            raise ValueError("no head")
        self.head, count, self._spans, self._order, base = top
        if type(count) is not int or count < 1 or type(self._spans) is not tuple \
                or len(self._spans) != count or not all(_span(s, rest) for s in self._spans) \
                or not _span(self._order, rest) or type(base) is not int or not 0 <= base <= rest:
            raise ValueError("no head")
        self._base = self._start + base

    def _load(self, span):
        try:
            return marshal.loads(self._read(self._start + span[0], span[1]))
        except _UNDECODABLE:
            return None

    def blob(self, name, index=None):
        """The bytes stored under ``name``, or None when there are none; ValueError
        when the file says there are but they cannot be read. ``index``: the
        bucket (or all of them, merged) already read."""
        if index is None:
            index = self._load(self._spans[_bucket(name, len(self._spans))])
            if type(index) is not dict:
                raise ValueError("a damaged bucket")
        where = index.get(name)
        if where is None:
            return None
        if not _span(where, self._size - self._base):
            raise ValueError("a damaged index entry")
        return self._read(self._base + where[0], where[1])

    def names(self):
        """Every name, in the order given to pack(); None when unreadable."""
        names = self._load(self._order)
        if type(names) is not list or not all(type(n) is str for n in names):
            return None
        return names

    def items(self):
        """(name, bytes or None) for every name in order (read as a whole: give
        a ``read`` over the file's bytes in memory); None when the list of names
        is unreadable, ValueError for a damaged index."""
        names = self.names()
        if names is None:
            return None
        index = self.index()
        return [(name, self.blob(name, index)) for name in names]

    def index(self):
        """Every bucket read and merged, for blob(name, index) of many names."""
        index = {}
        for span in self._spans:
            bucket = self._load(span)
            if type(bucket) is not dict:
                raise ValueError("a damaged bucket")
            index.update(bucket)
        return index
