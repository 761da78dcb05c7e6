"""Exceptions of the test runner."""

from __future__ import annotations


class RunnerError(RuntimeError):
    """Base class for runner errors."""


class LaunchError(RunnerError):
    """A worker could not be started (the warm parent is gone or refused to fork)."""
