"""Generate the C header of the record format from :mod:`sorto.format`.

The kernel module, the host unit harness and the fuzz target all include this
header, so regenerating it is the only way constants reach C.
"""

from __future__ import annotations

from importlib import resources

from . import format as F

HEADER_PATH = "meta-sorto/recipes-kernel/sorto-hook/files/sorto_format.h"


def render() -> str:
    """Return the header text (deterministic)."""
    # Imported here: the cli imports this module for HEADER_PATH, and inject,
    # show and verify must run without jinja2 (Buildroot's host-python-sorto).
    import jinja2

    text = resources.files("sorto").joinpath("templates/sorto_format.h.j2").read_text()
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    punct = "".join(sorted(chr(c) for c in F.NAME_CHARS if not chr(c).isalnum()))
    single = 0
    for t in F.SINGLE_FIELDS:
        single |= 1 << t
    return env.from_string(text).render(
        F=F,
        punct=punct,
        single_mask=single,
        err_names=F.ERROR_NAMES,
    )
