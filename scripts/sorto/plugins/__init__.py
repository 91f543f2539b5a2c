"""QEMU TCG plugins that measure the guest kernel's instruction fetches (see docs/scratchpad.md).

The C sources live beside this file; :mod:`.build` compiles them at run time
against the plugin header of the installed QEMU, and :mod:`.kfetch` runs
them in a guest and reads their reports.
"""
