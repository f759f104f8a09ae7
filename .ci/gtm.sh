#!/usr/bin/env bash
# Installs GT.M (Debian/Ubuntu package fis-gtm) for the VistA ZWR load test, unless present.
#
# How tests find GT.M (tests/test_vista_gtm.py): $gtm_dist if it is set and holds `mumps`
# and `mupip`; otherwise the newest /usr/lib/<arch>-linux-gnu/fis-gtm/<version>/ directory
# (the package installs there, e.g. /usr/lib/x86_64-linux-gnu/fis-gtm/V7.0-005_x86_64/,
# and puts nothing on PATH). With CI=true a missing GT.M fails that test instead of skipping.
set -euo pipefail

if [ -n "${gtm_dist:-}" ] && [ -x "${gtm_dist}/mupip" ] && [ -x "${gtm_dist}/mumps" ]; then
    exit 0
fi
if compgen -G "/usr/lib/*-linux-gnu/fis-gtm/*/mupip" > /dev/null; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends fis-gtm
compgen -G "/usr/lib/*-linux-gnu/fis-gtm/*/mupip" > /dev/null || {
    echo "fis-gtm installed but no /usr/lib/*-linux-gnu/fis-gtm/*/mupip found" >&2
    exit 1
}
