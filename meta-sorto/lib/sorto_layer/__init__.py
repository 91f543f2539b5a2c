"""meta-sorto's Python library, loaded by ``addpylib`` in conf/layer.conf.

``BBIMPORTS`` makes BitBake import these modules when it reads the layer
configuration and record, for every public callable of each one, the
variables it reads and the functions it calls (``add_module_functions`` in
bb/codeparser.py).  Metadata that calls one by its full name, as
sorto.bbclass calls ``sorto_layer.package.inject_tree(...)``, then carries
those variables in its task signature; BitBake 2.18 (wrynose) hashes the
function's source in as well, BitBake 2.8 (scarthgap) does not.

BitBake 2.8 reads that source with ``inspect`` for every public callable it
finds, names merely imported into the module included: one without findable
source (``collections.abc.Callable``, a typing alias) stops every parse with
"could not find class definition".  So these modules bind only their own
functions and classes at top level (tests/layer/test_lint.py checks it).
What the codeparser cannot see, the private helpers and on 2.8 all code,
reaches do_package's signature through ``file-checksums`` of these sources
(:func:`sorto_layer.package.file_checksums`).

The modules import nothing from BitBake or OE: tests run them with a plain
datastore and real files.
"""

BBIMPORTS = ["elf", "package", "kernel"]
