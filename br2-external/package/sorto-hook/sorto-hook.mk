################################################################################
#
# sorto-hook
#
################################################################################

# The module sources live once, in the Yocto layer of the same repository.
SORTO_HOOK_VERSION = 0.1.0
SORTO_HOOK_SITE = $(BR2_EXTERNAL_SORTO_PATH)/../meta-sorto/recipes-kernel/sorto-hook/files
SORTO_HOOK_SITE_METHOD = local
SORTO_HOOK_LICENSE = GPL-2.0
SORTO_HOOK_LICENSE_FILES = sorto_main.c

# What meta-sorto's sorto.cfg fragment gives a Yocto kernel: the hook the
# module registers with, and debugfs, where it publishes what it received.
define SORTO_HOOK_LINUX_CONFIG_FIXUPS
	$(call KCONFIG_ENABLE_OPT,CONFIG_BINFMT_ELF_HOOK)
	$(call KCONFIG_ENABLE_OPT,CONFIG_DEBUG_FS)
endef

$(eval $(kernel-module))
$(eval $(generic-package))
