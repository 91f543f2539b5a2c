SUMMARY = "core-image-minimal with the meta-sorto hook module and profiling tools"
DESCRIPTION = "A small image that boots the patched kernel, autoloads \
               sorto_hook and carries the sorto tool and tracers; every \
               executable in it has its .elf_hook_module_data section when \
               the sorto distro feature is on."
HOMEPAGE = "https://meta-sorto.org/"
SECTION = "images"
LICENSE = "MIT"

require recipes-core/images/core-image-minimal.bb

IMAGE_INSTALL:append = " packagegroup-sorto-profiling sorto-hook"
