SUMMARY = "Linux 4.14.336 from kernel.org with the meta-sorto ELF hook series"
DESCRIPTION = "The last 4.14 long-term release, built for qemuarm on a \
               current release with kernel-patches/4.14 of meta-sorto, so \
               that the hook can be tried on the kernel generation many \
               products still ship. Select it with \
               PREFERRED_PROVIDER_virtual/kernel = linux-sorto-4.14 \
               (kas/sorto-qemuarm-4.14.yml)."
HOMEPAGE = "https://www.kernel.org/"
SECTION = "kernel"
CVE_PRODUCT = "linux_kernel"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://COPYING;md5=d7810fab7487fb0aad327b76f1be7cd7"

inherit kernel
require recipes-kernel/linux/linux-yocto.inc
require linux-sorto.inc

# This recipe exists to carry the series: apply it even without the feature.
SORTO_KERNEL_FORCE = "1"

LINUX_VERSION = "${PV}"
LINUX_VERSION_EXTENSION = "-sorto"

# sha256 of linux-4.14.336.tar.xz as published on cdn.kernel.org (the same
# digest is pinned by independent projects that fetch this tarball).
SORTO_LINUX_4_14_336_SHA256 = "0820fdb7971c6974338081c11fbf2dc869870501e7bdcac4d0ed58ba1f57b61c"

SRC_URI = "${KERNELORG_MIRROR}/linux/kernel/v4.x/linux-${PV}.tar.xz \
           file://qemuarm-virt.cfg \
           "
SRC_URI[sha256sum] = "${SORTO_LINUX_4_14_336_SHA256}"

# Where the fetcher unpacks: UNPACKDIR since styhead (Yocto 5.1),
# WORKDIR on scarthgap, which has no UNPACKDIR.  Not a weak default for
# UNPACKDIR itself: the last ??= wins, so it would override bitbake.conf's,
# and later releases refuse UNPACKDIR = WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/linux-${PV}"

# The tarball's own configuration for Cortex-A boards, plus what runqemu's
# virt machine needs (qemuarm-virt.cfg) and the hook (sorto.cfg).
KBUILD_DEFCONFIG:qemuarm = "multi_v7_defconfig"
KCONFIG_MODE = "--alldefconfig"

COMPATIBLE_MACHINE = "qemuarm"
