"""User-facing error types.

Every mistake a user can make (a broken config, a bad genotype, a missing data set, a wrong
storage URL) raises a subclass of :class:`OptganError` with a one-line message that names the
offending option or value and how to fix it. The CLI prints that line and exits with code 2.
"""

from __future__ import annotations


class OptganError(Exception):
    """Base class of every error that is the user's to fix (printed as one line by the CLI)."""


class ConfigError(OptganError, ValueError):
    """A configuration key is unknown, mistyped or out of range."""


class GenotypeError(OptganError, ValueError):
    """A genotype does not fit the search space (names the cell, the edge and the rule)."""


class ConstraintError(OptganError):
    """The size caps admit no reachable architecture."""


class DataError(OptganError):
    """A data set is missing or malformed."""


class MetricsError(OptganError):
    """Feature-extractor weights or reference statistics are missing or inconsistent."""


class StorageError(OptganError):
    """The study storage is unreachable, or a study is missing / already exists."""


class CheckpointError(OptganError):
    """A checkpoint is missing, corrupted or belongs to another architecture."""


class TrainingDivergedError(OptganError):
    """Final training stopped: its losses stayed non-finite (the last checkpoint is intact)."""
