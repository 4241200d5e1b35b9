"""Genotype validity rules, encodings (Optuna params, reference arrays, JSON) and hashing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optgan.errors import GenotypeError
from optgan.search_space import (
    DOWN_OPS,
    NO_DOWN,
    Genotype,
    load_genotype,
    param_distributions,
    random_genotype,
)

EAGAN_G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
EAGAN_D = [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]]

seeds = st.integers(min_value=0, max_value=2**32 - 1)
nets = st.sampled_from(["gen", "disc"])


def test_published_genotypes_load_as_is() -> None:
    g = Genotype.from_array("gen", EAGAN_G)
    assert g.cells[0] == ("bilinear", "bilinear", "skip_connect", "none", "conv_1x1", "conv_3x3", "skip_connect")
    assert g.to_array() == EAGAN_G
    d = Genotype.from_array("disc", EAGAN_D)
    assert d.cells[1][5] == NO_DOWN and d.is_ignored(1, 6) and not d.is_ignored(0, 6)
    assert d.to_array() == EAGAN_D


@pytest.mark.parametrize(
    ("net", "rows", "needle"),
    [
        ("gen", [[1, 1, 0, 0, 2, 3, 1]] + EAGAN_G[1:], "cell 1: node2 needs at least one non-`none` input among e2, e3"),
        ("gen", [[1, 1, 1, 0, 0, 0, 0]] + EAGAN_G[1:], "cell 1: node3 needs at least one non-`none` input among e4, e5, e6"),
        ("gen", [[1, 3, 1, 0, 2, 3, 1]] + EAGAN_G[1:], "cell 1, edge e1 (input→node1): op index 3 is out of range 0..2"),
        ("disc", [[0, 0, 3, 0, 2, 0, 0]] + EAGAN_D[1:], "cell 1, edge e0 (node0→node1): op 'none' is not allowed"),
        ("disc", [[3, 0, 0, 0, 2, 0, 0]] + EAGAN_D[1:], "cell 1: node2 needs at least one non-`none` input among e1, e2"),
        ("disc", [[3, 0, 3, 0, 0, 0, 0]] + EAGAN_D[1:], "cell 1: node3 needs at least one non-`none` input among e3, e4"),
        ("disc", [[3, 0, 3, 0, 2, 0, -1]] + EAGAN_D[1:], "cell 1, edge e6 (node3→node4): -1 (no_down) is only allowed on e6 when e5 is -1"),
        ("gen", EAGAN_G[:2], "must have 3 cells"),
        ("gen", [EAGAN_G[0][:6]] + EAGAN_G[1:], "cell 1: must have 7 edges"),
    ],
)
def test_invalid_genotypes_name_cell_edge_and_rule(net: str, rows: list, needle: str) -> None:
    with pytest.raises(GenotypeError, match=None) as info:
        Genotype.from_array(net, rows)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_op_name_lists_allowed_ops() -> None:
    cells = [list(c) for c in Genotype.from_array("gen", EAGAN_G).cells]
    cells[2][4] = "conv_7x7"
    with pytest.raises(GenotypeError, match=r"cell 3, edge e4 \(node0→node3\): op 'conv_7x7' is not allowed.*allowed: none, skip_connect"):
        Genotype("gen", tuple(map(tuple, cells)))


@pytest.mark.parametrize(
    ("bad", "needle"),
    [("x", "got 'x' where the rows hold integer op indices"), (1.5, "got 1.5 where"), (True, "got True where")],
)
def test_a_value_of_another_form_is_named_where_it_is(bad: object, needle: str) -> None:
    rows = [list(r) for r in EAGAN_G]
    rows[2][6] = bad
    with pytest.raises(GenotypeError) as info:
        Genotype.from_json(rows, "gen")
    assert str(info.value).startswith("gen genotype, cell 3, edge e6 (node2→node3): ") and needle in str(info.value)
    named = [list(c) for c in Genotype.from_array("gen", EAGAN_G).cells]
    named[1][3] = 2  # names with one index
    with pytest.raises(GenotypeError, match=r"cell 2, edge e3 \(node1→node2\): got 2 where the rows hold op names"):
        Genotype.from_json(named, "gen")
    rows = [list(r) for r in EAGAN_G]
    rows[0][0] = 1.5  # the first value itself: neither form
    with pytest.raises(GenotypeError, match=r"cell 1, edge e0 \(input→node0\): got 1.5; an edge is an op name or an integer"):
        Genotype.from_json(rows, "gen")


def test_no_down_canonicalises_ignored_edge() -> None:
    a = Genotype.from_array("disc", EAGAN_D)
    cells = [list(c) for c in a.cells]
    cells[1][6] = "max_pool"  # ignored because e5 = no_down
    b = Genotype("disc", tuple(map(tuple, cells)))
    assert a == b and hash(a) == hash(b)
    assert b.cells[1][6] == DOWN_OPS[0]


def test_param_names_and_distributions() -> None:
    g = Genotype.from_array("gen", EAGAN_G)
    params = g.to_params()
    assert params["gen.c1.e0"] == "bilinear" and params["gen.c3.e6"] == "conv_3x3"
    dists = param_distributions("gen")
    assert set(dists) == set(params) and len(dists) == 21
    assert dists["gen.c1.e0"].choices == ("nearest", "bilinear", "conv_transpose")
    assert len(param_distributions("disc")["disc.c2.e5"].choices) == 7
    # one-hot width of the conceptual encoding (SPEC §1.5): 3 × (2·3 + 5·7) = 123 bits
    assert sum(len(d.choices) for d in dists.values()) == 123
    with pytest.raises(GenotypeError, match="parameter `gen.c2.e3` is missing"):
        Genotype.from_params("gen", {k: v for k, v in params.items() if k != "gen.c2.e3"})


@settings(max_examples=200, deadline=None)
@given(net=nets, seed=seeds)
def test_round_trips(net: str, seed: int) -> None:
    g = random_genotype(net, np.random.default_rng(seed))
    assert Genotype.from_params(net, g.to_params()) == g
    assert Genotype.from_array(net, g.to_array()) == g
    assert Genotype.from_json(json.loads(g.to_json())) == g
    assert load_genotype(g.to_json(), net) == g
    assert load_genotype(json.dumps(g.to_array()), net) == g
    assert hash(Genotype(net, g.cells)) == hash(g)
    for c in range(3):
        for e in range(7):
            assert param_distributions(net)[f"{net}.c{c + 1}.e{e}"].choices.count(g.op(c, e)) == 1


def test_load_genotype_from_file_and_errors(tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"net": "gen", "cells": EAGAN_G}))
    assert load_genotype(str(path)).to_array() == EAGAN_G
    with pytest.raises(GenotypeError, match="expected a disc genotype"):
        load_genotype(str(path), "disc")
    with pytest.raises(GenotypeError, match="neither JSON nor an existing file"):
        load_genotype(str(tmp_path / "missing.json"), "gen")
    with pytest.raises(GenotypeError, match="not valid JSON"):
        load_genotype("[[1,2", "gen")
    with pytest.raises(GenotypeError, match="cannot tell whether"):
        load_genotype(json.dumps(EAGAN_G))


def test_an_exported_genotype_reads_either_form_and_refuses_two_that_disagree() -> None:
    exported = Genotype.from_array("gen", EAGAN_G).to_json_dict()  # what `optgan export` writes: both forms
    assert Genotype.from_json(exported).to_array() == EAGAN_G
    assert Genotype.from_json({"net": "gen", "array": EAGAN_G}).to_array() == EAGAN_G  # the integers alone
    assert Genotype.from_json({"array": EAGAN_G}, "gen").to_array() == EAGAN_G
    edited = json.loads(json.dumps(exported))
    edited["array"][0][0] = 2  # edited by hand: which one was meant?
    with pytest.raises(GenotypeError, match="`cells` and `array` describe different architectures"):
        Genotype.from_json(edited)
    with pytest.raises(GenotypeError, match="needs a `cells` key .* or an `array` key"):
        Genotype.from_json({"net": "gen"})


@pytest.mark.parametrize(("text", "needle"), [
    ("[" * 10000 + "]" * 10000, "nests too deeply to be a genotype"),
    ("[[1" + "0" * 5000 + ",1,1,0,2,3,1]]", "holds a value JSON cannot read"),
    ('{"net": null, "cells": []}', "genotype JSON `net` = None; allowed: 'gen', 'disc'"),
    ("[1, 2, 3]", "cell 1: must have 7 edges, got 1, not a list"),
])
def test_json_that_is_no_genotype_is_one_line(text: str, needle: str, tmp_path) -> None:
    for source in (text, str(tmp_path / "g.json")):  # inline and as a file
        (tmp_path / "g.json").write_text(text)
        with pytest.raises(GenotypeError) as e:
            load_genotype(source, "gen")
        assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_genotype_path_that_is_no_regular_file_is_named() -> None:
    with pytest.raises(GenotypeError, match="'/dev/null' is not a regular file"):
        load_genotype("/dev/null", "gen")
