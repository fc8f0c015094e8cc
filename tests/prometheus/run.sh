#!/usr/bin/env bash
# Checks the alert rules (promtool check rules) and runs their unit tests
# (promtool test rules). promtool comes with Debian's prometheus package.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
rules=$here/../../helm/conveyor/files/prometheus-rules.yaml
command -v promtool >/dev/null || { echo "promtool is not installed (apt-get install prometheus)" >&2; exit 1; }
promtool check rules "$rules"
cd "$here" && promtool test rules rules_test.yaml
