#!/usr/bin/env bash
# Builds Conveyor's container image (Dockerfile) from Debian's archive alone,
# without pulling from any image registry, then smoke-tests it:
#
#   1. mmdebstrap makes a Debian 12 base (minbase, no docs, man pages or
#      locales: what debian:12-slim is), imported with buildah as
#      localhost/conveyor-base:12-slim; kept until --refresh-base;
#   2. buildah builds the Dockerfile with that base for both stages
#      (--pull=never; RUN steps in chroot isolation, apt from Debian's
#      archive);
#   3. in the image, as its own user: conveyor --version and topology check,
#      the installed files, no compiler or headers;
#   4. where podman can run containers: the image's entrypoint as PID 1,
#      `conveyor run --no-consumers` (nothing to connect to: it retries),
#      stopped with `podman stop`, must exit 0 on the SIGTERM.
#
#   scripts/build-image.sh [--tag TAG] [--refresh-base] [--save FILE.tar]
#
# Installs mmdebstrap, buildah, podman and runc with apt if missing (root).
# What runs on this machine, and how: README, "Deploying on Kubernetes".
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^project(conveyor VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag=localhost/conveyor:$version
base=localhost/conveyor-base:12-slim
refresh=0
save=""
while [ $# -gt 0 ]; do
    case $1 in
    --tag) tag=$2; shift 2 ;;
    --refresh-base) refresh=1; shift ;;
    --save) save=$2; shift 2 ;;
    *) echo "usage: $0 [--tag TAG] [--refresh-base] [--save FILE.tar]" >&2; exit 2 ;;
    esac
done
log() { printf '== %s\n' "$*" >&2; }

need=()
for t in mmdebstrap buildah podman runc; do
    command -v "$t" >/dev/null 2>&1 || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi

# Container limits: podman's defaults (nofile 1048576) exceed what a process
# without CAP_SYS_RESOURCE may set (as in this sandbox); stay within ours.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)

# ---- 1. the base, from Debian's archive
if [ "$refresh" = 1 ] || ! buildah inspect --type image "$base" >/dev/null 2>&1; then
    log "mmdebstrap: Debian 12 (bookworm) minbase, slim"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mmdebstrap --variant=minbase --format=tar \
        --aptopt='APT::Install-Recommends "false"' \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        bookworm "$work/base.tar" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main" \
        >"$work/mmdebstrap.log" 2>&1 || { tail -20 "$work/mmdebstrap.log" >&2; exit 1; }
    podman image rm "$base" >/dev/null 2>&1 || true
    podman import --quiet "$work/base.tar" "$base" >/dev/null
    log "base $base: $(du -h "$work/base.tar" | cut -f1) tarball, $(tar -tf "$work/base.tar" | grep -c '^./var/lib/dpkg/info/.*\.list$') packages"
    rm -rf "$work"
    trap - EXIT
fi

# ---- 2. the image
log "buildah build $tag (both stages from $base)"
t0=$(date +%s)
buildah build --pull=never --isolation chroot "${limits[@]}" \
    --build-arg BUILD_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" \
    --layers=false -t "$tag" . >"${TMPDIR:-/tmp}/conveyor-image-build.log" 2>&1 ||
    { tail -30 "${TMPDIR:-/tmp}/conveyor-image-build.log" >&2; exit 1; }
log "built in $(($(date +%s) - t0)) s; size $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1 / 1e6}')"

# ---- 3. smoke test inside the image (chroot isolation: needs no runtime)
ctr=$(buildah from --pull-never "$tag")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
inimage() { buildah run --isolation chroot --user 10001:10001 "$ctr" -- "$@"; }
out=$(inimage /usr/local/bin/conveyor --version)
[ "$out" = "conveyor $version" ] || { echo "--version said: $out" >&2; exit 1; }
out=$(inimage /usr/local/bin/conveyor topology check)
case $out in /usr/local/*marketplace.cfg:\ ok*) ;; *) echo "topology check said: $out" >&2; exit 1 ;; esac
inimage /bin/sh -c '
    set -e
    [ "$(id -u)" = 10001 ]
    for f in /usr/local/bin/conveyor /usr/local/etc/conveyor/conveyor.cfg \
             /usr/local/share/conveyor/schemas/ids.cfg \
             /usr/local/share/conveyor/topology/marketplace.cfg \
             /usr/local/share/conveyor/migrations/0001_conveyor_engine.sql \
             /usr/share/zoneinfo/America/New_York /etc/ssl/certs/ca-certificates.crt; do
        [ -e "$f" ] || { echo "missing in the image: $f" >&2; exit 1; }
    done
    for t in cc gcc cpp make cmake; do
        ! command -v "$t" >/dev/null || { echo "a build tool in the image: $t" >&2; exit 1; }
    done
    ! [ -d /usr/include/librdkafka ] || { echo "headers in the image" >&2; exit 1; }
    ! touch /usr/local/bin/x 2>/dev/null || { echo "the user can write /usr/local" >&2; exit 1; }'
log "smoke test (buildah run): $out; $(inimage /bin/sh -c 'ls /usr/local/share/conveyor/migrations | wc -l') migrations; no compiler, no headers; user 10001"
cfg=$(podman image inspect --format '{{json .Config}}' "$tag")
grep -q '"Entrypoint":\["/usr/local/bin/conveyor"\]' <<<"$cfg" &&
    grep -q '"User":"10001:10001"' <<<"$cfg" &&
    grep -q '"StopSignal":"SIGTERM"' <<<"$cfg" ||
    { echo "image config: $cfg" >&2; exit 1; }

# ---- 4. PID 1 and SIGTERM, where containers can run
name=conveyor-smoke-$$
if podman --runtime runc run --rm --network none "${limits[@]}" "$tag" --version >/dev/null 2>&1; then
    podman --runtime runc run -d --name "$name" --network none "${limits[@]}" \
        -e DATABASE_URL=postgresql://conveyor@127.0.0.1:1/conveyor \
        -e CONVEYOR_KAFKA_BROKERS=127.0.0.1:1 "$tag" run --no-consumers >/dev/null
    trap 'podman rm -f "$name" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    for _ in $(seq 100); do
        podman logs "$name" 2>&1 | grep -q 'relay started' && break
        sleep 0.1
    done
    t0=$(date +%s%3N)
    podman stop -t 30 "$name" >/dev/null
    ms=$(($(date +%s%3N) - t0))
    rc=$(podman inspect --format '{{.State.ExitCode}}' "$name")
    podman logs "$name" 2>&1 | grep -q 'stopped cleanly' && [ "$rc" = 0 ] ||
        { podman logs "$name" 2>&1 | tail -5 >&2; echo "exit $rc after SIGTERM" >&2; exit 1; }
    log "podman run (runc): conveyor as PID 1 stopped cleanly on SIGTERM in $ms ms, exit 0"
    podman rm "$name" >/dev/null
else
    log "podman cannot run containers here: step 4 (PID 1 and SIGTERM) not run"
fi

if [ -n "$save" ]; then
    podman save --format oci-archive -o "$save" "$tag"
    log "saved $save"
fi
log "image $tag ready: podman push $tag REGISTRY/conveyor:$version"
