SUMMARY = "meta-sorto: what a device needs to run and profile applications with policies"
DESCRIPTION = "The sorto_hook kernel module, the sorto tool and the tracers \
               it drives to profile an application on the target (strace, \
               perf); trace-cmd as well when meta-oe is in the build."
HOMEPAGE = "https://meta-sorto.org/"
SECTION = "base"
LICENSE = "MIT"

PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

# Everything here comes from openembedded-core or this layer, so the layer
# depends on core only; trace-cmd (meta-oe) is added by
# dynamic-layers/openembedded-layer/ when that layer is present.
RDEPENDS:${PN} = "\
    perf \
    python3-sorto \
    sorto-hook \
    strace \
"
