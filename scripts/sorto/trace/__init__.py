"""``sorto trace``: run an application under tracing on a target and bring the raw logs home.

``ftrace`` builds the guest-side shell lines of each tracer pass (pure
functions, testable without a guest); ``qemu`` boots the cached test guest
and runs the passes through the console harness; ``manifest`` writes the
output folder atomically with its ``manifest.json``.  Only the QEMU target
exists so far.
"""

from __future__ import annotations

from .qemu import TraceOptions, trace_qemu

__all__ = ["TraceOptions", "trace_qemu"]
