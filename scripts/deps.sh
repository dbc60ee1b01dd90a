#!/bin/sh
# Installs the Debian packages lrhub needs to build and test, if any is
# missing. Safe to run again: it does nothing when everything is there.
set -eu

packages="build-essential pkg-config libjansson-dev libsqlite3-dev libxml2-dev libzip-dev
libcurl4-openssl-dev libmicrohttpd-dev libssl-dev sqlite3 curl jq"
if [ "${1:-}" = "--test" ]; then
	packages="$packages valgrind clang libclang-rt-dev time"
	# tests/e2e_pull.sh: tests/fault_proxy.py injects 5xx/429 before a real lrhub serve,
	# and serves HTTPS with a certificate the openssl command makes.
	packages="$packages python3 openssl"
	# tests/e2e_browser.sh: headless Chromium driven over its DevTools pipe by node.
	packages="$packages chromium nodejs fonts-dejavu-core"
fi

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
