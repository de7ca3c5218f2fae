"""indexed: a file of named blobs, one read without the others (config cache, usrsvcd.view)."""

import pytest

from usrsvcmod import indexed


def _reader(data, reads=None):
    def read(offset, length):
        if reads is not None:
            reads.append(length)
        return data[offset:offset + length]

    return indexed.Reader(read, len(data))


def test_every_blob_reads_back_in_order_and_one_name_reads_little(tmp_path):
    blobs = [("p%05d" % i, b"blob %d" % i * (i % 7 + 1)) for i in range(10000)]
    data = indexed.pack({"pid": 7}, blobs)
    reader = _reader(data)
    assert reader.head == {"pid": 7}
    assert reader.names() == [name for name, _ in blobs]
    assert reader.items() == blobs
    reads = []
    one = _reader(data, reads)
    assert one.blob("p04321") == dict(blobs)["p04321"]
    assert one.blob("nobody") is None
    assert sum(reads) < len(data) / 50  # the head, a bucket or two, a blob: not the file


@pytest.mark.parametrize("count", [0, 1, 31, 33, 100])
def test_any_number_of_names_and_odd_names(count):
    blobs = [("n%d \u00e9\udcff/" % i, b"") for i in range(count)]
    reader = _reader(indexed.pack(None, blobs))
    assert reader.items() == blobs
    for name, blob in blobs:
        assert reader.blob(name) == blob


def test_a_damaged_file_raises_value_error_never_garbage():
    data = indexed.pack("head", [("a", b"x" * 100), ("b", b"y" * 100)])
    for damaged in (b"", data[:7], data[:30], b"\xff" * 8 + data[8:], data[:8] + b"\x00" * 40):
        with pytest.raises(ValueError):
            _reader(damaged)
    cut = _reader(data[:-50])
    assert cut.blob("a") == b"x" * 100
    with pytest.raises(ValueError):
        cut.blob("b")
