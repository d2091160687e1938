#!/bin/sh
# Installs the Debian packages agent needs, only when some are missing (quiet otherwise).
# usage: scripts/deps.sh build|test|all [extra-package...]
set -eu

# ca-certificates: the CA bundle libcurl checks every provider's HTTPS certificate against
# (/etc/ssl/certs/ca-certificates.crt); libcurl4-openssl-dev only recommends it.
build_pkgs="cmake make gcc pkg-config liblua5.4-dev lua5.4 lua-cjson-dev libyaml-dev libcmark-dev libcurl4-openssl-dev ca-certificates"
# What the test suite runs besides the build: busted and luacheck, the model and HTTP test
# servers (python3), the benchmarks' references (fd, hyperfine, cmark), the editor, shell
# completion and man page checks (neovim, zsh, groff, man), the style and export checks
# (clang-format, nm/readelf from binutils), the hostile-input and disk-fault specs (strace,
# chattr from e2fsprogs, unshare from util-linux, and mount, which faults_spec runs inside
# unshare and Debian 12 ships apart from util-linux); valgrind, which http_spec runs a child
# under to prove a raising callback leaks nothing (and scripts/test.sh --valgrind uses).
test_pkgs="lua-busted lua-check python3 fd-find hyperfine cmark neovim git zsh groff-base man-db clang-format binutils strace e2fsprogs util-linux mount valgrind"

case "${1:-build}" in
  build) want="$build_pkgs" ;;
  test|all) want="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 build|test|all [package...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
want="$want $*"

missing=""
for p in $want; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

echo "Installing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "error: missing packages:$missing (run as root, or install them)" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
