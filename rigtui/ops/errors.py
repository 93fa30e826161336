"""Errors an operator can hit before an action starts; str() is one line saying what to do."""

from __future__ import annotations


class UsageError(Exception):
    """An action that cannot start as asked: an option, camera or destination that does not work."""


class NothingFound(Exception):
    """Nothing to act on: no camera was found. Not a usage error: the rig itself is missing."""
