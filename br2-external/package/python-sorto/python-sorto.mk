################################################################################
#
# python-sorto
#
################################################################################

# The tool is developed in this repository (scripts/), next to this tree.
PYTHON_SORTO_VERSION = 0.1.0
PYTHON_SORTO_SITE = $(BR2_EXTERNAL_SORTO_PATH)/../scripts
PYTHON_SORTO_SITE_METHOD = local
PYTHON_SORTO_SETUP_TYPE = setuptools
PYTHON_SORTO_LICENSE = MIT
PYTHON_SORTO_LICENSE_FILES = pyproject.toml
# What inject, show and verify import: no jsonschema (its host package pulls
# in rpds-py and with it a Rust toolchain), no jinja2 (genheader, report).
HOST_PYTHON_SORTO_DEPENDENCIES = host-python-pyelftools host-python-pyyaml

$(eval $(host-python-package))
