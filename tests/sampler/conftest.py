"""Fixtures of the sampler tests: storages (in-memory, SQLite, PostgreSQL) and study factories.

`storage_url` runs a test on every back end: in-memory (None), SQLite in `tmp_path`, and
PostgreSQL when `OPTGAN_TEST_POSTGRES_URL` is set (skipped otherwise). Study names are unique,
so a shared PostgreSQL database can be reused between runs. URLs are opened the way optgan
opens them in production (`optgan.study.storage.open_storage`: SQLite in WAL mode).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import optuna
import pytest

from optgan.config.sampler import SamplerConfig
from optgan.sampler import OptganSampler
from optgan.search_space.constraints import Caps
from optgan.study.storage import open_storage

from _storage import storage_url_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: admits about 9 % of uniformly random generators at CIFAR-10 widths
TEN_PERCENT_CAPS = Caps(params_M=(None, 12.5), cell_params_M=(0.5, None), flops_M=(None, 3000.0))
DIRECTIONS_3 = ["maximize", "minimize", "minimize"]  # IS, FID, params_M


@pytest.fixture
def ten_percent_caps() -> Caps:
    """Caps admitting about 9 % of uniformly random generators at CIFAR-10 widths."""
    return TEN_PERCENT_CAPS


@pytest.fixture(params=["inmemory", "sqlite", "postgres"])
def storage_url(request: pytest.FixtureRequest, tmp_path) -> str | None:
    """None (in-memory), an SQLite URL in tmp_path, or $OPTGAN_TEST_POSTGRES_URL."""
    return None if request.param == "inmemory" else storage_url_of(request.param, tmp_path)


@pytest.fixture
def new_study() -> Callable[..., optuna.Study]:
    """Factory: `new_study(storage, population_size=8, caps=None, directions=..., **config)`."""

    def make(storage: str | None = None, *, net: str = "gen", caps: Caps | None = None,
             directions: list[str] | None = None, seed: int = 0, name: str | None = None,
             **config: object) -> optuna.Study:
        config.setdefault("population_size", 8)
        sampler = OptganSampler(net=net, config=SamplerConfig(**config), caps=caps, seed=seed)
        return optuna.create_study(
            study_name=name or f"sampler-test-{uuid.uuid4().hex[:12]}",
            storage=open_storage(storage) if storage else None,
            directions=directions or DIRECTIONS_3,
            sampler=sampler,
        )

    return make
