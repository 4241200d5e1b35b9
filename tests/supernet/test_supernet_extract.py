"""Extracting a subnet keeps the supernet's memory format; loading one back refuses a network
that is not a subnet of it (rather than silently loading nothing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optgan.search_space import Widths, random_genotype
from optgan.supernet import (
    build_supernet_d,
    build_supernet_g,
    extract_subnet,
    load_subnet_into_supernet,
    set_channels_last,
)

W = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2)


@pytest.mark.parametrize("net", ["gen", "disc"])
def test_an_extracted_subnet_keeps_channels_last(net: str) -> None:
    supernet = (build_supernet_g if net == "gen" else build_supernet_d)(W, generator=torch.Generator().manual_seed(0))
    set_channels_last(supernet, True)
    sub = extract_subnet(supernet, random_genotype(net, np.random.default_rng(0)))
    assert sub.channels_last
    convs = [m.weight_orig if hasattr(m, "weight_orig") else m.weight
             for m in sub.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs if w.shape[-1] > 1)


def test_loading_a_network_of_the_other_kind_into_a_supernet_is_refused() -> None:
    g = build_supernet_g(W, generator=torch.Generator().manual_seed(0))
    d = build_supernet_d(W, generator=torch.Generator().manual_seed(1))
    sub_d = extract_subnet(d, random_genotype("disc", np.random.default_rng(0)))
    with pytest.raises(KeyError, match="not in the supernet"):
        load_subnet_into_supernet(sub_d, g)
