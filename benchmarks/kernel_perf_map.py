"""Run the module kernel in a loop with a symbol map for `perf`, so a profile names it.

Numba's machine code lives in anonymous memory, so `perf report` shows it as "[JIT]"
addresses. This compiles the kernel afresh (into a throwaway cache directory, so the
object code is still in memory), writes /tmp/perf-PID.map with the address and size
of every compiled function (perf reads that file), saves each function's object code
for disassembly, and then runs the kernel over one cohort until the time is up:

    NUMBA_NUM_THREADS=1 python -m benchmarks.kernel_perf_map 20000 60 /tmp/kmap &
    # when /tmp/kmap/ready exists:
    perf record -F 999 -p $(cat /tmp/kmap/ready) -o /tmp/kernel.data -- sleep 30
    perf report -i /tmp/kernel.data --sort sym

For instruction-level hot spots, `/tmp/kmap/functions.json` lists each function's
load address, size, object file and offset in it: subtract the load address from a
sample's address (`perf script -F ip`) and look the offset up in `objdump -d` of the
object file. The kernel is one large function with its helpers inlined, so small
source changes move register allocation around; profile and time every change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _compiled_functions(directory: Path) -> list[dict]:
    """Every compiled overload of kernels/machine.py: load address, size, object file."""
    from cohortforge.kernels import machine

    functions, seen = [], set()
    for name in dir(machine):
        dispatcher = getattr(machine, name)
        for number, overload in enumerate(getattr(dispatcher, "overloads", {}).values()):
            library = overload.library
            try:
                code = library._get_compiled_object()  # kept only for a fresh compile
            except RuntimeError:
                continue
            path = directory / f"{name}.{number}.o"
            path.write_bytes(code)
            symbols = subprocess.run(
                ["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True
            ).stdout
            for line in symbols.splitlines():
                parts = line.split()
                if len(parts) != 4 or parts[2] not in ("t", "T"):
                    continue
                offset, size, _, symbol = parts
                address = library.get_pointer_to_function(symbol)
                if address and address not in seen:
                    seen.add(address)
                    functions.append(
                        {
                            "address": address,
                            "size": int(size, 16),
                            "symbol": symbol,
                            "object": str(path),
                            "offset": int(offset, 16),
                        }
                    )
    return functions


def main(argv: list[str]) -> None:
    patients = int(argv[1]) if len(argv) > 1 else 20_000
    seconds = float(argv[2]) if len(argv) > 2 else 60.0
    directory = Path(argv[3] if len(argv) > 3 else tempfile.mkdtemp(prefix="kmap-"))
    directory.mkdir(parents=True, exist_ok=True)
    # A fresh compile, before Numba is imported: cached code is loaded without its object.
    os.environ["NUMBA_CACHE_DIR"] = str(directory / "numba-cache")
    from benchmarks.bench_kernel import KernelCohort

    cohort = KernelCohort(patients)
    cohort.run()
    functions = _compiled_functions(directory)
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as perf_map:
        for function in functions:
            perf_map.write(f"{function['address']:x} {function['size']:x} {function['symbol']}\n")
    (directory / "functions.json").write_text(json.dumps(functions, indent=1))
    (directory / "ready").write_text(str(os.getpid()))
    print(f"pid {os.getpid()}: {len(functions)} functions mapped; files in {directory}")
    runs, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        cohort.run()
        runs += 1
    print(f"{runs} kernel runs of {patients:,} patients")


if __name__ == "__main__":
    main(sys.argv)
