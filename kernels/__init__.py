"""Numba kernels: pure functions over arrays, no classes and no I/O of ours."""
