"""meta-sorto's Python library, loaded by ``addpylib`` in conf/layer.conf.

``BBIMPORTS`` makes BitBake parse these modules, so a change in them changes
the signature of every task whose functions call them (do_package through
sorto.bbclass, parsing of kernel recipes through linux-sorto.inc).  The
modules import nothing from BitBake or OE: tests run them with a plain
datastore and real files.
"""

BBIMPORTS = ["elf", "package", "kernel"]
