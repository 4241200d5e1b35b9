"""The Optuna releases optgan runs on, and what a command says when the installed one is another.

optgan reaches into Optuna's internals where the public API cannot do the job, or not fast enough:
the RDB table models (`optgan study create/move/list` write and read them in a few statements),
one transaction per trial's writes and a trial cache for the sole writer of a study
(:mod:`optgan.study.sole_writer_cache`), the artifact attribute prefix, the schema head of the
storage and the hypervolume of the Pareto pictures. Names like these may move in any minor release,
so `pyproject.toml` admits only the minor releases the suite has passed on (:data:`SUPPORTED`),
and tests/test_optuna_support.py imports every private Optuna name the code uses, so a bump
of the pin that breaks one says which.

Where an Optuna outside that range was installed anyway (`pip install --no-deps`, a forced
upgrade), every command logs :func:`unsupported_optuna_warning` first, the sampler (the Python
API's way into a study) issues it as an :class:`UnsupportedOptunaWarning`, and the CLI turns an
ImportError of a name that moved into :func:`optuna_mismatch`'s one line.
"""

from __future__ import annotations

from optgan.errors import OptganError

__all__ = ["SUPPORTED", "REQUIREMENT", "UnsupportedOptunaWarning", "optuna_mismatch", "unsupported_optuna_warning",
           "warn_if_unsupported_optuna"]

#: the Optuna versions the suite has passed on (pyproject.toml's requirement; a test keeps them equal)
SUPPORTED = ">=5.0,<5.2"
#: what to install (pip syntax)
REQUIREMENT = f"optuna{SUPPORTED}"


def optuna_mismatch(error: BaseException) -> OptganError | None:
    """The one-line error for an ImportError raised by a name optgan takes from Optuna that the
    installed Optuna lacks; None for any other error."""
    if not isinstance(error, ImportError) or (error.name or "").partition(".")[0] != "optuna":
        return None
    try:
        import optuna

        installed = optuna.__version__
    except ImportError:  # no optuna at all
        installed = "(none)"
    what = str(error).split(" (")[0]  # without the file path
    return OptganError(f"the installed optuna {installed} is not one optgan supports ({what}): "
                       f'pip install "{REQUIREMENT}"')


class UnsupportedOptunaWarning(UserWarning):
    """The installed Optuna is outside :data:`SUPPORTED` (issued once per process by default)."""


def warn_if_unsupported_optuna() -> None:
    """Issue :func:`unsupported_optuna_warning`'s text as an :class:`UnsupportedOptunaWarning`, if any
    (the CLI logs it instead and filters these out)."""
    import warnings

    if (text := unsupported_optuna_warning()) is not None:
        warnings.warn(text, UnsupportedOptunaWarning, stacklevel=3)


def unsupported_optuna_warning(installed: str | None = None) -> str | None:
    """A warning when the `installed` Optuna (default: the imported one) is outside
    :data:`SUPPORTED` (pre-releases of a supported release count as in it); None otherwise."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion

    if installed is None:
        import optuna

        installed = optuna.__version__
    try:
        if SpecifierSet(SUPPORTED).contains(installed, prereleases=True):
            return None
    except InvalidVersion:
        pass
    return (f"optuna {installed} is not among the releases optgan is tested with ({SUPPORTED}); it may fail or "
            f'store what a supported one would not: pip install "{REQUIREMENT}"')
