#!/bin/bash
# Install everything the build, the guest and the tests need on a fresh
# Debian 12 machine.  Idempotent: a second run installs nothing.
set -u
export DEBIAN_FRONTEND=noninteractive

APT_PKGS="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross binutils-arm-linux-gnueabihf
qemu-system-arm qemu-user bc bison flex libssl-dev libelf-dev cpio kmod xz-utils file
linux-source-6.12 linux-source-6.1 clang libclang-rt-14-dev llvm make perl python3-pip python3-venv
gzip patch git"

missing=""
for p in $APT_PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if ! dpkg --print-foreign-architectures | grep -qx armhf; then
	dpkg --add-architecture armhf
	missing="$missing update"
fi
if [ -n "$missing" ]; then
	# apt-get update has been seen failing during mirror syncs while
	# installs still work: retry it, never stop on its exit code alone.
	ok=0
	for i in 1 2 3 4; do
		apt-get update -q || true
		# shellcheck disable=SC2086
		if apt-get install -y -q --no-install-recommends $APT_PKGS; then
			ok=1
			break
		fi
		sleep $((i * 10))
	done
	[ "$ok" = 1 ] || { echo "install-deps: apt-get install failed" >&2; exit 1; }
fi
