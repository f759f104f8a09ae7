"""engine/streaming_digests.py and the manifest's use of its digests."""

from __future__ import annotations

import hashlib

import pytest

from cohortforge.engine import streaming_digests
from cohortforge.engine.manifest import describe_files
from cohortforge.engine.streaming_digests import StreamingDigests


def test_interleaved_files_get_their_own_digests_under_a_tight_bound():
    """Blocks of three files interleaved, with room for about one block at a time (so
    the writer keeps waiting for the thread): each digest is that of its file's bytes."""
    digests = StreamingDigests(max_pending_bytes=1_000)
    expected = {name: bytearray() for name in ("a.csv", "b.ndjson", "c.hl7")}
    for i in range(600):
        name = list(expected)[i % 3]
        block = bytes([i % 251]) * (1 + i % 900) + name.encode()
        expected[name] += block
        digests.add(name, block)
    digests.add("a.csv", b"")  # empty blocks change nothing
    digests.add("never-written.csv", b"")
    result = digests.finish()
    assert result == {
        name: (hashlib.sha256(data).hexdigest(), len(data)) for name, data in expected.items()
    }


def test_a_block_larger_than_the_bound_still_passes():
    digests = StreamingDigests(max_pending_bytes=10)
    digests.add("x", b"0123456789" * 100)
    digests.add("x", b"tail")
    assert digests.finish() == {
        "x": (hashlib.sha256(b"0123456789" * 100 + b"tail").hexdigest(), 1004)
    }


def test_an_error_while_hashing_is_raised_by_finish_without_blocking_writers(monkeypatch):
    class Broken:
        def update(self, data: bytes) -> None:
            raise MemoryError("no room to hash")

    monkeypatch.setattr(streaming_digests.hashlib, "sha256", Broken)
    digests = StreamingDigests(max_pending_bytes=100)
    for _ in range(50):  # more than the bound: the writer must not wait forever
        digests.add("x", b"y" * 60)
    with pytest.raises(MemoryError, match="no room to hash"):
        digests.finish()


def test_close_stops_the_thread_without_a_result():
    digests = StreamingDigests()
    digests.add("x", b"data")
    digests.close()
    digests.close()  # twice is harmless
    assert not digests._thread.is_alive()


def test_describe_files_trusts_a_known_digest_only_when_the_size_agrees(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n")
    real = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    files = {"t.csv": path}
    known_right_size = {"t.csv": ("f" * 64, 8)}  # not the real digest: shows it was used
    assert describe_files(files, known=known_right_size)["t.csv"]["sha256"] == "f" * 64
    known_wrong_size = {"t.csv": ("f" * 64, 7)}  # the file changed after: hashed from disk
    assert describe_files(files, known=known_wrong_size)["t.csv"] == {"sha256": real, "bytes": 8}
    assert describe_files(files)["t.csv"]["sha256"] == real
