"""Load the VistA export of a 200-patient run into a throw-away GT.M database.

Needs GT.M (Debian package fis-gtm; `.ci/gtm.sh` installs it). Skipped where GT.M is
absent on a developer machine, but with CI=true a missing GT.M fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from cohortforge.exporters.vista.exporter import VistaExporter
from tests.export_harness import export_tables
from tests.test_vista_export import export_zwr

TIMEOUT_S = 300
GTM_DIST_VARIABLE = "gtm_dist"  # GT.M's own (lower-case) variable name


def find_gtm_dist() -> Path | None:
    """$gtm_dist when it holds mumps and mupip, else the newest fis-gtm package directory."""
    candidates: list[Path] = []
    configured = os.environ.get(GTM_DIST_VARIABLE)
    if configured:
        candidates.append(Path(configured))
    candidates += sorted(Path("/usr/lib").glob("*-linux-gnu/fis-gtm/*"), reverse=True)
    on_path = shutil.which("mupip")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "mumps").is_file() and (directory / "mupip").is_file():
            return directory
    return None


@pytest.fixture(scope="module")
def gtm(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(gtm_dist, environment) for a fresh, empty database in a temporary directory."""
    dist = find_gtm_dist()
    if dist is None:
        message = "GT.M not found (install fis-gtm, e.g. with .ci/gtm.sh, or set $gtm_dist)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("gtm")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "gtm_dist": str(dist),
        "gtmgbldir": str(work / "vista.gld"),
        "gtmroutines": f"{dist}/libgtmutil.so {dist}",
        "gtm_tmp": str(work),
        "HOME": str(work),
    }
    # Raise key and record limits above the defaults so long subscripts (names in "B")
    # and values always fit; null subscripts stay forbidden, as in VistA.
    gde = (
        f"change -segment DEFAULT -file_name={work / 'vista.dat'}\n"
        "change -region DEFAULT -key_size=1019 -record_size=1048576 -null_subscripts=never\n"
        "exit\n"
    )
    _run([str(dist / "mumps"), "-run", "GDE"], env, work, stdin=gde)
    _run([str(dist / "mupip"), "create"], env, work)
    return dist, env


def _run(command: list[str], env: dict[str, str], cwd: Path,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, cwd=cwd, input=stdin, capture_output=True,
                            text=True, timeout=TIMEOUT_S, check=False)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n" \
        f"{result.stdout}\n{result.stderr}"
    return result


def test_mupip_loads_every_node_unchanged(gtm, tmp_path: Path) -> None:
    dist, env = gtm
    tables, context = export_tables(200)
    zwr = export_zwr(VistaExporter(), [tables], context).decode("ascii")
    path = tmp_path / "globals.zwr"
    path.write_text(zwr, encoding="ascii")
    data_lines = zwr.splitlines()[2:]

    load = _run([str(dist / "mupip"), "load", "-format=zwr", str(path)], env, tmp_path)
    output = load.stdout + load.stderr
    assert "Format error" not in output and "-E-" not in output, output
    loaded = re.search(r"LOAD TOTAL\s+Key Cnt: ([0-9]+)", output)
    assert loaded, output
    assert int(loaded[1]) == len(data_lines) > 200 * 10

    # Extract what the database holds: every node once, in collation order. The same
    # multiset of lines means no node was lost, merged (duplicate key) or altered.
    extract = tmp_path / "extract.zwr"
    _run([str(dist / "mupip"), "extract", "-format=zwr", str(extract)], env, tmp_path)
    extracted = extract.read_text(encoding="ascii").splitlines()
    assert extracted[1].endswith(" ZWR")
    assert Counter(extracted[2:]) == Counter(data_lines)

    def read(reference: str) -> str:
        return _run([str(dist / "mumps"), "-run", "%XCMD", f"write {reference}"], env,
                    tmp_path).stdout.removesuffix("\n")  # GT.M ends the output line

    assert read("^DPT(0)") == "PATIENT^2I^200^200"
    expected = {line.split(")=", 1)[0] + ")": line.split(")=", 1)[1][1:-1].replace('""', '"')
                for line in data_lines}
    samples = ["^DPT(1,0)"] + [next(key for key in expected if key.startswith(root))
                               for root in ("^LR(", "^GMR(120.5,", "^AUPNVSIT(", "^AUPNVPOV(",
                                            "^PSRX(", "^AUPNPROB(")]
    for reference in samples:
        assert read(reference) == expected[reference], reference
    assert read('$O(^DPT("B",""))') == min(
        key.split('"')[3] for key in expected if key.startswith('^DPT("B",'))
