#!/bin/sh
# Post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT) of the SORTO br2-external
# tree: give every executable of the target its .elf_hook_module_data section,
# then fail if any executable is left without one (unless waived).
#
# Buildroot strips the target, then runs the post-build scripts, so the
# section is added to the final files and no strip can remove it.  Which
# files, which policy and the check are meta-sorto's Yocto class logic,
# run here from the layer's own library (meta-sorto/lib/sorto_layer) with
# the sorto command of host-python-sorto.
set -e

: "${BR2_EXTERNAL_SORTO_PATH:?run by Buildroot with BR2_EXTERNAL including the SORTO tree}"
: "${HOST_DIR:?run by Buildroot}"

PYTHONPATH="${BR2_EXTERNAL_SORTO_PATH}/../meta-sorto/lib${PYTHONPATH:+:${PYTHONPATH}}" \
	exec "${HOST_DIR}/bin/python3" -m sorto_layer.buildroot mark "$1"
