SUMMARY = "meta-sorto kernel module: applies the policy of every executable at exec"
DESCRIPTION = "Out-of-tree module sorto_hook.ko. It registers with the ELF \
               section hook of the meta-sorto kernel patch series \
               (CONFIG_BINFMT_ELF_HOOK), decodes the .elf_hook_module_data \
               record of each executed program, applies it (memory locking, \
               scheduling, interrupt thread deferral) under the trust model \
               of docs/security.md, and publishes counters and the last \
               records under /sys/kernel/debug/sorto_hook/."
HOMEPAGE = "https://meta-sorto.org/"
SECTION = "kernel"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://sorto_main.c;beginline=1;endline=1;md5=fcab174c20ea2e2bc0be64b493708266 \
                    file://${COMMON_LICENSE_DIR}/GPL-2.0-only;md5=801f80980d171dd6425610833a22dbe6"

# The module sources (files/) follow the kernel patch series of this
# repository, so the version is the project's, set here rather than in the
# file name (the layout gives the recipe the fixed name sorto-hook.bb).
PV = "0.1.0"

SRC_URI = "\
    file://Makefile \
    file://sorto_act.h \
    file://sorto_compat.h \
    file://sorto_decode.c \
    file://sorto_decode.h \
    file://sorto_format.h \
    file://sorto_irq.c \
    file://sorto_kcompat.h \
    file://sorto_main.c \
    file://sorto_mlock.c \
    file://sorto_sched.c \
    file://sorto_scratch.c \
    file://sorto_trust.c \
"

# Sources are unpacked flat, into UNPACKDIR since styhead (Yocto 5.1),
# WORKDIR on scarthgap, which has no UNPACKDIR.  Not a weak default for
# UNPACKDIR itself: the last ??= wins, so it would override bitbake.conf's,
# and later releases refuse UNPACKDIR = WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

# The Makefile takes KERNEL_SRC and has the modules and modules_install
# targets module.bbclass runs, like meta-skeleton's hello-mod.
inherit module

RPROVIDES:${PN} += "kernel-module-sorto-hook"
KERNEL_MODULE_AUTOLOAD += "sorto_hook"

# The administrator's limits of docs/security.md as module options, written
# to /etc/modprobe.d/sorto_hook.conf by oe-core's module packaging, e.g. in
# local.conf: SORTO_HOOK_OPTIONS = "irq_allow=virtio0 max_rt_prio=30".
# Empty (the default) keeps the module's own safe defaults and writes no file.
SORTO_HOOK_OPTIONS ??= ""
KERNEL_MODULE_PROBECONF += "${@'sorto_hook' if d.getVar('SORTO_HOOK_OPTIONS').strip() else ''}"
module_conf_sorto_hook = "${@('options sorto_hook ' + d.getVar('SORTO_HOOK_OPTIONS').strip()) if d.getVar('SORTO_HOOK_OPTIONS').strip() else ''}"
