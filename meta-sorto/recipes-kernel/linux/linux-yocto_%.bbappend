# meta-sorto: ELF hook patch series and config fragment for linux-yocto.
# Included only when DISTRO_FEATURES contains "sorto": without the feature
# this append adds nothing to linux-yocto (yocto-check-layer compliant).
require ${@bb.utils.contains('DISTRO_FEATURES', 'sorto', 'linux-sorto.inc', '', d)}
