"""Every Numba option the project uses, in one place.

`cache=True` because the first-ever run compiles and every later run should load
machine code from disk; `nogil=True` so chunk kernels overlap with writer threads.
"""

JIT_OPTIONS = {"cache": True, "nogil": True}
UFUNC_OPTIONS = {"cache": True}
