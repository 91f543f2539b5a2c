#!/bin/sh
# Fakeroot script (BR2_ROOTFS_POST_FAKEROOT_SCRIPT) of the SORTO br2-external
# tree: right before a filesystem image is made from the target, check that
# every executable still carries its .elf_hook_module_data section.  It
# catches what was added or rewritten after post-build.sh marked the tree
# (a later post-build script, a fakeroot hook); waive with
# BR2_PACKAGE_HOST_PYTHON_SORTO_QA_SKIP.
set -e

: "${BR2_EXTERNAL_SORTO_PATH:?run by Buildroot with BR2_EXTERNAL including the SORTO tree}"
: "${HOST_DIR:?run by Buildroot}"

PYTHONPATH="${BR2_EXTERNAL_SORTO_PATH}/../meta-sorto/lib${PYTHONPATH:+:${PYTHONPATH}}" \
	exec "${HOST_DIR}/bin/python3" -m sorto_layer.buildroot check "$1"
