"""Every Numba option the project uses, in one place.

`cache=True` because the first-ever run compiles and every later run should load
machine code from disk; `nogil=True` so chunk kernels overlap with writer threads.
"""

JIT_OPTIONS = {"cache": True, "nogil": True}
# The per-patient interpreter in kernels/machine.py allocates nothing, so it runs without
# Numba's runtime (NRT): no reference counting is emitted at all. With NRT on, every state
# entry made ~30 out-of-line NRT_incref/NRT_decref calls (no-ops, on the owner-less views
# of kernels/unowned.py), and those calls forced the loop's array pointers to be spilled
# and reloaded around them: three quarters of the kernel's time. `_nrt` is a Numba
# compiler option (numba.core.options); a function compiled with it cannot allocate
# arrays, which Numba reports at compile time.
NO_NRT_OPTIONS = {**JIT_OPTIONS, "_nrt": False}
UFUNC_OPTIONS = {"cache": True}
