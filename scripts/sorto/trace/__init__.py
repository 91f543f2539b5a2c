"""``sorto trace``: run an application under tracing on a target and bring the raw logs home.

``ftrace`` and ``userpasses`` build the target-side shell lines of each pass
(pure functions, testable without a target); ``run`` runs the passes on a
target and builds the manifest; ``qemu`` boots the cached test guest and
drives it through the console harness; ``ssh`` drives a board over OpenSSH;
``manifest`` writes the output folder atomically with its ``manifest.json``.
"""

from __future__ import annotations

from .qemu import trace_qemu
from .run import TraceOptions
from .ssh import SshTarget, trace_ssh

__all__ = ["SshTarget", "TraceOptions", "trace_qemu", "trace_ssh"]
