"""In-memory stage studies built from rows, for the tests of reading a study back by round.

Import it as `from _round_studies import round_study` (tests/conftest.py puts this folder on `sys.path`).
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from optgan import keys

#: (generation, slot or None for the trial's number, state, values or None)
Row = tuple[int, int | None, TrialState, list[float] | None]


def round_study(rows: list[Row], directions: list[str], name: str | None = None) -> optuna.Study:
    """A study whose trials are `rows`, created in that order; a COMPLETE row is told its values, a
    FAIL row fails, any other state stays RUNNING."""
    study = optuna.create_study(directions=directions, study_name=name)
    for generation, slot, state, values in rows:
        t = study.ask()
        t.set_user_attr(keys.GENERATION, generation)
        t.set_user_attr(keys.SLOT, t.number if slot is None else slot)
        if state == TrialState.COMPLETE:
            study.tell(t, values)
        elif state == TrialState.FAIL:
            study.tell(t, state=TrialState.FAIL)
    return study
