"""cohortforge: reproducible synthetic patient cohorts, generated as columns."""

import os

__version__ = "0.1.0"

# Polars' jemalloc gives freed pages back to the OS after 10 s, and every chunk then
# faults them in again, zeroed. Keeping them (no decay) took a 200,000-patient
# all-modules run from 4.8-6.4 s to 2.1-2.5 s of system time and 20.6-23.0 s to
# 19.6-19.7 s wall, for 150-250 MB more peak RSS. jemalloc reads this when Polars loads,
# so it only applies if cohortforge is imported first; a value the user set wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")
