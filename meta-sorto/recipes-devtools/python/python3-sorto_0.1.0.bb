SUMMARY = "meta-sorto tools: policy schema, metadata codec, sorto inject/show/verify"
DESCRIPTION = "The sorto command: validates per-application policies, \
               encodes them into the .elf_hook_module_data ELF section \
               (sorto inject) and decodes it (sorto show, sorto verify). The \
               native variant marks executables during do_package \
               (sorto.bbclass); the target variant profiles applications with \
               the tracing tools on the device."
HOMEPAGE = "https://meta-sorto.org/"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://pyproject.toml;beginline=11;endline=11;md5=3d0290b2406d347891ebb47c03bc4435 \
                    file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The tool is developed in this repository (scripts/), next to the layer;
# SORTO_SRC_DIR can point to another checkout (local.conf).
SORTO_SRC_DIR ?= "${SORTO_LAYERDIR}/../scripts"
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SORTO_SRC_DIR}:"
SRC_URI = "\
    file://pyproject.toml;subdir=sorto-${PV} \
    file://sorto;subdir=sorto-${PV} \
"

# Where the fetcher unpacks: UNPACKDIR since styhead (Yocto 5.1),
# WORKDIR on scarthgap, which has no UNPACKDIR.  Not a weak default for
# UNPACKDIR itself: the last ??= wins, so it would override bitbake.conf's,
# and later releases refuse UNPACKDIR = WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/sorto-${PV}"

inherit python_setuptools_build_meta

RDEPENDS:${PN} += "\
    python3-core \
    python3-jinja2 \
    python3-json \
    python3-pyelftools \
    python3-pyyaml \
"
# On the device, `sorto trace` drives strace and perf (and tracefs directly,
# no trace-cmd): both come from openembedded-core, like everything above.
RDEPENDS:${PN}:append:class-target = " perf strace"

BBCLASSEXTEND = "native nativesdk"
