#!/usr/bin/env bash
# Builds the repository's unchanged Dockerfile without Docker and without a container registry,
# then checks the image: it holds the daemon only, runs as uid 65532, with the Dockerfile's
# entrypoint and command, and `natsdr --version` names the commit it was built from.
#
# NB: the two base images cannot be pulled here, so this builds STAND-INS for them from Debian
# bookworm packages and tags them with the names the Dockerfile uses:
#   rust:1.95-bookworm                      debootstrap (minbase) + gcc, libc6-dev, ca-certificates
#                                           + this machine's installed Rust 1.95 toolchain
#   gcr.io/distroless/cc-debian12:nonroot   the files of the libc6, libgcc-s1 and ca-certificates
#                                           debs, /etc/passwd with nonroot (65532), /tmp; no shell
# They are close to the real bases, not the same: this checks the Dockerfile and what the image
# holds, not the published bases' contents.
#
# Needs root (buildah builds daemonless with chroot isolation) and Debian bookworm's apt.
# Idempotent: the stand-ins and buildah's layer cache are kept in $NATSDR_IMAGE_STORE, so a second
# run only rebuilds what changed. `--clean` removes that store afterwards (about 2.5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned tools, from Debian bookworm.
BUILDAH=1.28.2+ds1-3+deb12u1+b3
DEBOOTSTRAP=1.0.128+nmu2+deb12u2
# The base images, as the Dockerfile names them: the stand-ins follow it.
builder_from=$(sed -n 's/^FROM \([^ ]*\) AS builder$/\1/p' Dockerfile)
RUNTIME_IMAGE=$(sed -n 's/^FROM \([^ ]*\)$/\1/p' Dockerfile | tail -n 1)
# The builder's Rust version (rust:X.Y-bookworm), taken from this machine's rustup.
RUST=$(sed -n 's/^rust:\([0-9]*\.[0-9]*\)-bookworm$/\1/p' <<<"$builder_from")
BUILDER_IMAGE=docker.io/library/$builder_from
IMAGE=localhost/natsdr:image-check
STORE=${NATSDR_IMAGE_STORE:-/var/tmp/natsdr-image}
# overlay needs a kernel (and a filesystem under $STORE) that allows it; vfs always works but
# copies every layer in full.
DRIVER=${NATSDR_IMAGE_DRIVER:-overlay}
MIRROR=${NATSDR_DEBIAN_MIRROR:-http://deb.debian.org/debian}

clean=false
for arg in "$@"; do
  case $arg in
    --clean) clean=true ;;
    *) echo "usage: $0 [--clean]" >&2; exit 64 ;;
  esac
done

say() { echo "image-check: $(date -u +%T) $*"; }
fail() { echo "image-check: FAILED: $*" >&2; exit 1; }

[ -n "$RUST" ] || fail "no stand-in for the builder '$builder_from' (only rust:X.Y-bookworm)"
[ "$RUNTIME_IMAGE" = gcr.io/distroless/cc-debian12:nonroot ] \
  || fail "no stand-in for the runtime base '$RUNTIME_IMAGE'"
[ "$(id -u)" = 0 ] || fail "run as root (buildah builds without a daemon, with chroot isolation)"

install_pinned() {
  local pkg=$1 version=$2
  if [ "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)" = "$version" ]; then return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$pkg=$version" >/dev/null
}
install_pinned buildah "$BUILDAH"
install_pinned debootstrap "$DEBOOTSTRAP"

mkdir -p "$STORE"
bah() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver "$DRIVER" "$@"; }
have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }
# The store is this script's own: working containers left by an interrupted run only take space.
bah rm --all >/dev/null

# Commits the directory $2 as image $1, with the buildah config flags that follow.
commit_rootfs() {
  local name=$1 rootfs=$2; shift 2
  local ctr mnt
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  bah umount "$ctr" >/dev/null
  bah config --label natsdr.stand-in=true "$@" "$ctr"
  bah commit --quiet "$ctr" "$name" >/dev/null
  bah rm "$ctr" >/dev/null
}

build_builder_stand_in() {
  local sysroot rootfs=$STORE/builder-rootfs
  sysroot=$(RUSTUP_TOOLCHAIN=$RUST.0 rustc --print sysroot) \
    || fail "no Rust $RUST.0 toolchain installed (rustup toolchain list)"
  "$sysroot/bin/rustc" -V | grep -q "^rustc $RUST\." || fail "$sysroot is not Rust $RUST"
  rm -rf "$rootfs"
  say "stand-in $BUILDER_IMAGE: debootstrap bookworm (minbase, gcc, libc6-dev, ca-certificates)"
  nice -n 19 debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >"$STORE/debootstrap.log" 2>&1 \
    || fail "debootstrap, see $STORE/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # The official image's layout: toolchain under RUSTUP_HOME, cargo and rustc on PATH from
  # CARGO_HOME/bin. Its docs (share/) are left out.
  local tc=/usr/local/rustup/toolchains/$RUST.0-x86_64-unknown-linux-gnu
  mkdir -p "$rootfs$tc" "$rootfs/usr/local/cargo/bin"
  for d in bin etc lib libexec; do
    if [ -d "$sysroot/$d" ]; then cp -a "$sysroot/$d" "$rootfs$tc/"; fi
  done
  for b in cargo rustc rustdoc; do ln -s "$tc/bin/$b" "$rootfs/usr/local/cargo/bin/$b"; done
  commit_rootfs "$BUILDER_IMAGE" "$rootfs" \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$RUST.0" --cmd /bin/bash
  rm -rf "$rootfs"
}

build_runtime_stand_in() {
  local tmp rootfs=$STORE/runtime-rootfs
  tmp=$(mktemp -d)
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  say "stand-in $RUNTIME_IMAGE: files of the libc6, libgcc-s1 and ca-certificates debs"
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root libc6 libgcc-s1 ca-certificates)
  for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$rootfs"
    say "  $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
  done
  rm -rf "$tmp"
  # What the packages' maintainer scripts and distroless add: the CA bundle, the users, /tmp.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot"
  find "$rootfs/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z \
    | xargs -0 cat >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  commit_rootfs "$RUNTIME_IMAGE" "$rootfs" --user 65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  rm -rf "$rootfs"
}

have_image "$BUILDER_IMAGE" || build_builder_stand_in
have_image "$RUNTIME_IMAGE" || build_runtime_stand_in
say "base images: $BUILDER_IMAGE, $RUNTIME_IMAGE (local stand-ins)"

revision=$(git rev-parse --short=12 HEAD)
say "building the Dockerfile at $revision with buildah (no pulls)"
# NB: cargo in the builder fetches crates from crates.io; it trusts this machine's CA bundle
# (mounted for the build's RUN steps only), so it works behind a TLS-inspecting proxy too.
nice -n 19 buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver "$DRIVER" \
  bud --pull=never --layers --isolation chroot --build-arg REVISION="$revision" \
  --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  --tag "$IMAGE" . || fail "the Dockerfile did not build"

# The image's config.
bah inspect --type image "$IMAGE" >"$STORE/inspect.json"
cfg() {
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["OCIv1"]["config"]
for k in sys.argv[2:]: c = c.get(k, {})
print(c if isinstance(c, str) else json.dumps(c, separators=(",", ":")))' "$STORE/inspect.json" "$@"
}
expect() {
  local what=$1 got=$2 want=$3
  [ "$got" = "$want" ] || fail "$what is '$got', expected '$want'"
  say "ok: $what is $want"
}
expect user "$(cfg User)" "65532:65532"
expect entrypoint "$(cfg Entrypoint)" '["/usr/local/bin/natsdr"]'
expect cmd "$(cfg Cmd)" '["run","--config","/etc/natsdr/natsdr.toml"]'
expect "exposed ports" "$(cfg ExposedPorts)" '{"8080/tcp":{}}'
expect "revision label" "$(cfg Labels org.opencontainers.image.revision)" "$revision"

# The image's files: the runtime base's plus the daemon, nothing else.
ctr=$(bah from --pull=never "$IMAGE")
base=$(bah from --pull=never "$RUNTIME_IMAGE")
trap 'bah umount "$ctr" "$base" >/dev/null 2>&1; bah rm "$ctr" "$base" >/dev/null 2>&1' EXIT
mnt=$(bah mount "$ctr")
base_mnt=$(bah mount "$base")
added=$(diff <(cd "$base_mnt" && find . | sort) <(cd "$mnt" && find . | sort) | grep '^[<>]' || true)
expect "files added to the runtime base" "$(echo "$added" | tr '\n' ' ')" \
  "> ./usr/local > ./usr/local/bin > ./usr/local/bin/natsdr "
[ -x "$mnt/usr/local/bin/natsdr" ] || fail "/usr/local/bin/natsdr is not executable"
if [ -n "$(find "$mnt" -name 'natsdr-lab*' -print -quit)" ]; then fail "the image holds natsdr-lab"; fi
if [ -e "$mnt/bin/sh" ] || [ -e "$mnt/usr/bin/sh" ]; then fail "the image holds a shell"; fi
say "ok: no natsdr-lab, no shell"

# The daemon runs from the image (as the image's user: `buildah run` takes it from the config).
run() { bah run --isolation chroot "$ctr" -- "$@"; }
help=$(run /usr/local/bin/natsdr --help) || fail "natsdr --help did not run in the image"
if grep -iwE 'lab|demo|bench|chaos' <<<"$help"; then fail "natsdr --help lists a lab command"; fi
grep -q '^  run ' <<<"$help" || fail "natsdr --help lists no run command"
say "ok: natsdr --help lists run and no lab, demo, bench or chaos command"
version=$(run /usr/local/bin/natsdr --version) || fail "natsdr --version did not run in the image"
grep -q "(commit $revision)" <<<"$version" || fail "natsdr --version is '$version', expected $revision"
say "ok: $version"

say "image $IMAGE: $(bah images --format '{{.Size}}' "$IMAGE")"
say "store $STORE: $(du -sh "$STORE" | cut -f1)"
if $clean; then
  bah umount "$ctr" "$base" >/dev/null 2>&1 || true
  trap - EXIT
  bah rm --all >/dev/null
  bah rmi --all --force >/dev/null 2>&1 || true
  # NB: the overlay driver keeps its directory mounted (and layers of killed runs under it).
  if mountpoint -q "$STORE/storage/overlay"; then umount -R "$STORE/storage/overlay"; fi
  rm -rf "$STORE"
  say "removed $STORE"
fi
say "all checks passed"
