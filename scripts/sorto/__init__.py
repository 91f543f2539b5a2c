"""meta-sorto tools: policies, metadata records and the ELF section that carries them."""

__version__ = "0.1.0"
