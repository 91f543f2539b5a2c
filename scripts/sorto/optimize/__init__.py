"""``sorto optimize``: the whole loop on one target, from a profile to a measured before/after.

``targets`` boots the QEMU guest or reaches a board over SSH and prepares
each session the same way; ``measure`` reads the application's own figures
from its output; ``loop`` runs profile, analyze, inject and the interleaved
measurement; ``summary`` writes results.json, report.html and the terminal
summary.
"""

from __future__ import annotations

from .loop import Options, run
from .targets import BoardTarget, QemuTarget

__all__ = ["BoardTarget", "Options", "QemuTarget", "run"]
