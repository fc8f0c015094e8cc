#!/usr/bin/env bash
# The container image's contents, tested without building it (the build,
# scripts/build-image.sh, needs Debian's archive and minutes; this needs
# neither): the Dockerfile installs the build with `cmake --install` under
# /usr/local, so the same install of this build into a staging directory is
# the image's file list. Checked here:
#   - the staged tree holds the binary, the reference configuration and
#     every schema, topology and migration of the repository, and the staged
#     binary finds them from where it lies (--version, topology check);
#   - the Dockerfile's runtime stage installs every package the binary's
#     shared libraries come from (dpkg-shlibdeps), and no compiler or
#     headers; its build stage has every -dev package install-deps.sh has;
#   - the image's user is the numeric uid the chart runs as, the entrypoint
#     is the binary in exec form (PID 1, so SIGTERM reaches it), and the
#     chart's schemas.dir is where the image has the schemas.
set -euo pipefail
root=${CONVEYOR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${CONVEYOR_BIN:-$root/build/conveyor}
bdir=$(dirname "$(readlink -f "$bin")")
df=$root/Dockerfile
T=$(mktemp -d /tmp/conveyor-image.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; echo "image files test: $pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

[ -f "$bdir/CMakeCache.txt" ] || fail "$bin is not in a CMake build directory"
DESTDIR=$T/stage cmake --install "$bdir" --prefix /usr/local >"$T/install.log" 2>&1 ||
    fail "cmake --install: $(tail -5 "$T/install.log")"
P=$T/stage/usr/local
for f in bin/conveyor etc/conveyor/conveyor.cfg; do
    [ -f "$P/$f" ] || fail "the image would lack /usr/local/$f"
done
for d in schemas topology migrations; do
    (cd "$root/$d" && find . -type f | sort) >"$T/repo-$d"
    (cd "$P/share/conveyor/$d" && find . -type f | sort) >"$T/image-$d"
    diff "$T/repo-$d" "$T/image-$d" >&2 || fail "the image's $d differ from the repository's"
done
ok "the image holds the binary, conveyor.cfg and $(cat "$T"/image-* | wc -l) schema, topology and migration files"

out=$(cd / && env -u CONVEYOR_CONFIG -u CONVEYOR_TOPOLOGY -u CONVEYOR_SCHEMAS "$P/bin/conveyor" --version)
[ "$out" = "conveyor $(sed -n 's/^project(conveyor VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")" ] ||
    fail "--version said: $out"
out=$(cd / && env -u CONVEYOR_CONFIG -u CONVEYOR_TOPOLOGY -u CONVEYOR_SCHEMAS "$P/bin/conveyor" topology check 2>&1) ||
    fail "topology check in the staged tree: $out"
grep -qE "^$P/(etc/conveyor/\.\./\.\./)?share/conveyor/topology/marketplace.cfg: ok" <<<"$out" ||
    fail "the staged binary did not use its own tree: $out"
ok "the staged binary runs from the image layout: $out"

# the runtime stage: between the second FROM and the COPY of the build
runtime=$(awk '/^FROM \$\{RUNTIME_IMAGE\}/ { on = 1 } on && /^COPY --from=build/ { on = 0 } on' "$df")
build=$(awk '/^FROM \$\{BUILD_IMAGE\}/ { on = 1 } /^FROM \$\{RUNTIME_IMAGE\}/ { on = 0 } on' "$df")
[ -n "$runtime" ] && [ -n "$build" ] || fail "the Dockerfile has no build or runtime stage"
pkgs() { sed -n '/apt-get install/,/rm -rf/p' <<<"$1" | tr -s ' \\\n' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
         grep -vE '^(apt-get|install|clean|rm|update|noninteractive|DEBIAN_FRONTEND)$' | sort -u; }
pkgs "$runtime" >"$T/runtime-pkgs"
pkgs "$build" >"$T/build-pkgs"
mkdir -p "$T/shl/debian"
printf 'Source: conveyor\nMaintainer: x <x@example.com>\n\nPackage: conveyor\nArchitecture: any\n' >"$T/shl/debian/control"
deps=$(cd "$T/shl" && dpkg-shlibdeps -O "$P/bin/conveyor" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || fail "dpkg-shlibdeps found no dependency"
for p in $(tr ',' '\n' <<<"$deps" | sed 's/(.*//; s/|.*//' | tr -d ' '); do
    # in every Debian base, slim too: the C library, essential or required packages
    case $p in libc6 | libgcc-s1) continue ;; esac
    prio=$(dpkg-query -W -f='${Essential}/${Priority}' "$p" 2>/dev/null || true)
    case $prio in yes/* | */required) continue ;; esac
    grep -qx "$p" "$T/runtime-pkgs" ||
        fail "the binary needs $p (dpkg-shlibdeps: $deps); the Dockerfile's runtime stage does not install it"
done
for p in ca-certificates tzdata; do
    grep -qx "$p" "$T/runtime-pkgs" || fail "the runtime stage lacks $p"
done
if grep -E -- '-dev$|^(build-essential|gcc|g\+\+|cpp|make|cmake|pkg-config)$' "$T/runtime-pkgs"; then
    fail "the runtime stage installs build tools or headers"
fi
ok "the runtime stage installs what the binary links ($deps), CA certificates and tzdata, no build tool"
for p in $(grep -oE 'lib[a-z0-9.+-]+-dev' "$root/scripts/install-deps.sh" | sort -u); do
    grep -qx "$p" "$T/build-pkgs" || fail "install-deps.sh builds with $p; the Dockerfile's build stage lacks it"
done
ok "the build stage has every -dev package of install-deps.sh"

uid=$(sed -n 's/^USER \([0-9]*\):[0-9]*$/\1/p' "$df")
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "the Dockerfile's USER is not a numeric non-root uid:gid"
grep -qx "  runAsUser: $uid" "$root/helm/conveyor/values.yaml" ||
    fail "the chart's podSecurityContext.runAsUser is not the image's uid $uid"
grep -qx 'ENTRYPOINT \["/usr/local/bin/conveyor"\]' "$df" || fail "the entrypoint is not the binary in exec form"
dir=$(sed -n 's/^    dir: \(.*\)$/\1/p' "$root/helm/conveyor/values.yaml")
[ -f "$T/stage$dir/ids.cfg" ] || fail "the chart's config.schemas.dir ($dir) is not where the image has the schemas"
ok "user $uid (the chart's runAsUser), exec-form entrypoint, the chart's schemas.dir $dir"
echo "image files test: $pass passed, 0 failed"
