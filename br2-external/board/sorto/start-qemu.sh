#!/bin/sh
# Boot what sorto_qemu_arm_vexpress_defconfig (or its _4_14 variant) built,
# in qemu-system-arm (Debian: qemu-system-arm), serial console on this
# terminal; quit with Ctrl-a x.
#
#   board/sorto/start-qemu.sh [IMAGES_DIR [extra qemu arguments...]]
#
# IMAGES_DIR defaults to output/images.  threadirqs gives every interrupt a
# thread, which the module's interrupt deferral acts on.
set -e

images="${1:-output/images}"
[ "$#" -eq 0 ] || shift
for f in zImage vexpress-v2p-ca9.dtb rootfs.ext2; do
	[ -f "${images}/${f}" ] || { echo "start-qemu.sh: ${images}/${f} not found" >&2; exit 1; }
done

exec "${QEMU_SYSTEM_ARM:-qemu-system-arm}" -M vexpress-a9 -smp 1 -m 256 \
	-kernel "${images}/zImage" -dtb "${images}/vexpress-v2p-ca9.dtb" \
	-drive "file=${images}/rootfs.ext2,if=sd,format=raw" \
	-append "console=ttyAMA0,115200 rootwait root=/dev/mmcblk0 threadirqs" \
	-net nic,model=lan9118 -net user -nographic "$@"
