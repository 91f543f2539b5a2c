"""Errors that the command line turns into one clear line and exit status 2."""

from __future__ import annotations


class SortoError(Exception):
    """A user-facing failure: the message names the file and the problem."""


class DecodeError(SortoError):
    """A metadata record that does not decode.

    ``code`` matches the C decoder's error number, so the two decoders can be
    compared on the same bytes.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
