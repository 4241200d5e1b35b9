"""One transaction for all the params and attrs a trial was given since its last write.

Optuna writes each param and attr of a trial in a transaction of its own; `optgan run`'s trial
cache (:mod:`optgan.study.sole_writer_cache`) holds them and writes them here: one row lock, one
upsert per table (SQLite and PostgreSQL; another database gets Optuna's per-row writes), one commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import cast

import optuna
import sqlalchemy as sa
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

__all__ = ["TrialWrites", "write_trial_batch"]


@dataclass
class TrialWrites:
    """Params and attrs of one trial not yet written: name → value as stored (JSON for attrs)."""

    params: dict[str, tuple[float, str]] = field(default_factory=dict)  # name → (internal value, distribution JSON)
    user_attrs: dict[str, str] = field(default_factory=dict)
    system_attrs: dict[str, str] = field(default_factory=dict)


def write_trial_batch(storage: optuna.storages.RDBStorage, trial_id: int, writes: TrialWrites) -> None:
    """Write `writes` to a running trial in one transaction; safe to repeat (upserts)."""
    with _create_scoped_session(storage.scoped_session) as session:  # an IntegrityError is raised, never dropped
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        storage.check_trial_is_updatable(trial_id, cast(TrialState, trial.state))  # a Column in optuna 5.0's types
        tables = ((models.TrialParamModel, "param_name", ("param_value", "distribution_json"),
                   [{"trial_id": trial_id, "param_name": k, "param_value": v, "distribution_json": d}
                    for k, (v, d) in writes.params.items()]),
                  (models.TrialUserAttributeModel, "key", ("value_json",),
                   [{"trial_id": trial_id, "key": k, "value_json": v} for k, v in writes.user_attrs.items()]),
                  (models.TrialSystemAttributeModel, "key", ("value_json",),
                   [{"trial_id": trial_id, "key": k, "value_json": v} for k, v in writes.system_attrs.items()]))
        dialect = session.get_bind().dialect.name
        for model, key, columns, rows in tables:
            if not rows:
                continue
            if dialect in ("sqlite", "postgresql"):
                insert = sa.dialects.sqlite.insert if dialect == "sqlite" else sa.dialects.postgresql.insert
                stmt = insert(model)
                stmt = stmt.on_conflict_do_update(index_elements=[model.trial_id, getattr(model, key)],
                                                  set_={c: getattr(stmt.excluded, c) for c in columns})
                session.execute(stmt, rows)
                continue
            for row in rows:  # another database: Optuna's own per-row writes, still one commit
                if model is models.TrialParamModel:
                    session.add(model(**row))
                else:
                    storage._set_trial_attr_without_commit(session, model, trial_id, str(row["key"]),
                                                           json.loads(str(row["value_json"])))
