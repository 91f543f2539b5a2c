SUMMARY = "meta-sorto: what a device needs to run and profile applications with policies"
DESCRIPTION = "The sorto_hook kernel module, the sorto tool and the tracers \
               it drives to profile an application on the target (strace, \
               trace-cmd, perf)."
HOMEPAGE = "https://meta-sorto.org/"
SECTION = "base"
LICENSE = "MIT"

PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

RDEPENDS:${PN} = "\
    perf \
    python3-sorto \
    sorto-hook \
    strace \
    trace-cmd \
"
