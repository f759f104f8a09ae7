"""engine/allocator.py: glibc's malloc keeps chunk-sized blocks in its heaps."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh interpreter (malloc's thresholds depend on what a process freed before):
# a 24 MB block is mmap()ed by default and comes from the heap once the setting is made.
PROBE = """
import ctypes
from cohortforge.engine.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
size = 24 << 20
before = libc.mallinfo2().hblkhd
assert libc.malloc(size)
default_mapped = libc.mallinfo2().hblkhd - before
assert keep_freed_memory()
before = libc.mallinfo2().hblkhd
assert libc.malloc(size)
print(default_mapped >= size, libc.mallinfo2().hblkhd - before)
"""


def _has_glibc_mallinfo2() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")


@pytest.mark.skipif(not _has_glibc_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")
def test_chunk_sized_blocks_come_from_the_heap_not_fresh_mappings():
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    mapped_by_default, mapped_after = probe.stdout.split()
    assert mapped_by_default == "True"  # without the setting the block was mmap()ed
    assert mapped_after == "0"
