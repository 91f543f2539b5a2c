#!/bin/sh
# /init of the meta-sorto test guest: mount the pseudo filesystems, quiet the
# kernel log on the console, then read commands from the console line by line
# without echo, so the host harness sees only what commands print.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
dmesg -n 1
stty -echo
echo "SORTO-GUEST-READY $(uname -r)"
while IFS= read -r line; do
	eval "$line"
done
echo "SORTO-GUEST-EOF"
poweroff -f
