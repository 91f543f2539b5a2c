# sorto.bbclass: give every packaged ELF executable of the target its
# .elf_hook_module_data section, the policy the patched kernel hands to the
# sorto_hook module at exec.
#
# Enable it for a whole build (local.conf, or a distro configuration):
#
#   INHERIT += "sorto"
#   DISTRO_FEATURES:append = " sorto"
#
# Inheriting alone changes no task signature: every hook below is guarded by
# the distro feature, and only target recipes are touched.
#
# Policies, per executable (first match wins, .yaml, .yml or .json):
#   1. ${SORTO_POLICY_DIR}/${PN}/<path in package>.yaml, then .../<basename>.yaml
#      (a folder the user points to, e.g. the output of profiling runs);
#   2. sorto-policy/<path>.yaml, then sorto-policy/<basename>.yaml shipped by the
#      recipe in SRC_URI (file://sorto-policy/foo.yaml);
#   3. ${SORTO_DEFAULT_POLICY}: marks the executable "unprofiled".
# A policy that does not validate stops the recipe, naming the file and field.
#
# Hook point: the first function of PACKAGESPLITFUNCS, on ${PKGD}.  do_package
# runs perform_packagecopy, PACKAGE_PREPROCESS_FUNCS, then oe-core's
# split_and_strip_files (debug split + strip) and fixup_perms, then
# PACKAGESPLITFUNCS (populate_packages hard-links PKGD into PKGDEST).  Marking
# after strip means:
#   - the section is added to the final stripped file and can never be
#     stripped away, whatever PACKAGE_STRIP / extra strip sections a build
#     sets, and recipes that strip themselves or set INHIBIT_PACKAGE_STRIP are
#     treated the same;
#   - the -dbg files, split before, keep describing the code unchanged (the
#     section is not loaded, so no address moves and .gnu_debuglink, a CRC of
#     the debug file, stays valid);
#   - modes are final (fixup_perms ran), and every split package, and PKGD in
#     the do_package sstate object, holds the same marked inode.
#
# The work is done by the sorto_layer.package module (lib/), run here with the
# build's cross ${OBJCOPY} through the `sorto` tool of python3-sorto-native.
# Each inode is injected once and its other hard links re-linked; files are
# visited in sorted order and the encoding is deterministic, so outputs are
# reproducible and hash equivalence holds.

SORTO_POLICY_DIR ?= ""
SORTO_POLICY_DIR[doc] = "Folder with <PN>/<executable>.yaml policies that override the recipes' own."
SORTO_DEFAULT_POLICY ?= "${SORTO_LAYERDIR}/files/sorto-default-policy.yaml"
SORTO_DEFAULT_POLICY[doc] = "Policy for executables nobody profiled (status unprofiled)."
SORTO_EXCLUDE_DIRS ?= "/boot ${nonarch_base_libdir}/firmware ${prefix}/lib/debug ${prefix}/lib/debug-static ${prefix}/src/debug"
SORTO_EXCLUDE_DIRS[doc] = "Package paths never marked (kernel images, firmware for other cores, debug files)."
SORTO_ELF_MACHINE ?= ""
SORTO_ELF_MACHINE[doc] = "ELF e_machine to mark when HOST_ARCH is not in sorto_layer.elf.MACHINE_BY_ARCH."
SORTO_CMD ?= "sorto"

python sorto_package_inject() {
    # Full names, no "import ... as": BitBake's codeparser links a call to a
    # BBIMPORTS function only when written as sorto_layer.<module>.<function>,
    # and only then do the variables those functions read enter the signature.
    if not sorto_layer.package.enabled(d):
        return
    try:
        cfg = sorto_layer.package.read_config(d)
        report = sorto_layer.package.inject_tree(d.getVar("PKGD"), cfg)
    except sorto_layer.package.SortoLayerError as exc:
        bb.fatal(str(exc))
    for m in report.marked:
        kind = "default policy" if m.default else "policy %s" % os.path.basename(str(m.policy))
        links = " (hard links: %s)" % " ".join(m.links) if m.links else ""
        bb.note("sorto: /%s marked with %s%s" % (m.path, kind, links))
    for rel, why in sorted(report.skipped.items()):
        bb.debug(1, "sorto: /%s left alone: %s" % (rel, why))
}
# Absolute paths differ between build hosts; the contents of the policy files
# (and of lib/sorto_layer) enter the signature through file-checksums below.
sorto_package_inject[vardepsexclude] += "SORTO_POLICY_DIR SORTO_DEFAULT_POLICY SORTO_LAYERDIR PATH UNPACKDIR WORKDIR"
sorto_package_inject[vardeps] += "SORTO_EXCLUDE_DIRS SORTO_ELF_MACHINE OBJCOPY"
sorto_layer.package.read_config[vardepsexclude] = "SORTO_POLICY_DIR SORTO_DEFAULT_POLICY PATH UNPACKDIR WORKDIR"

sorto_package_inject[doc] = "Inject the policy section into every target executable of PKGD (after strip)."

PACKAGESPLITFUNCS:prepend:class-target = "${@bb.utils.contains('DISTRO_FEATURES', 'sorto', 'sorto_package_inject ', '', d)}"
do_package[depends] += "${@'python3-sorto-native:do_populate_sysroot' if sorto_layer.package.enabled(d) else ''}"
do_package[file-checksums] += "${@sorto_layer.package.file_checksums(d) if sorto_layer.package.enabled(d) else ''}"
do_package_qa[file-checksums] += "${@sorto_layer.package.file_checksums(d) if sorto_layer.package.enabled(d) else ''}"

# Package QA: an executable of a target package without the section fails the
# package when the feature is on (INSANE_SKIP:<pkg> += "sorto-section" to waive).
QAPKGTEST[sorto-section] = "package_qa_check_sorto_section"
ERROR_QA:append:class-target = "${@bb.utils.contains('DISTRO_FEATURES', 'sorto', ' sorto-section', '', d)}"

def package_qa_check_sorto_section(pkg, d, messages=None):
    # messages is passed by oe-core releases whose QA tests collect messages;
    # handle_error works on all of them.
    if not sorto_layer.package.enabled(d):
        return True
    try:
        cfg = sorto_layer.package.read_config(d)
    except sorto_layer.package.SortoLayerError as exc:
        oe.qa.handle_error("sorto-section", str(exc), d)
        return False
    missing = sorto_layer.package.find_unmarked(os.path.join(d.getVar("PKGDEST"), pkg), cfg)
    for rel in missing:
        oe.qa.handle_error("sorto-section",
                           "%s: /%s is an executable without the .elf_hook_module_data section" % (pkg, rel), d)
    return not missing
