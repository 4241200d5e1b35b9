

def test_a_violation_shows_the_value_and_the_limit_apart() -> None:
    from optgan.search_space.constraints import Violation

    assert Violation("flops_M", 1891.62193, 1891.6219).message == "flops_M = 1891.62193 is above the limit 1891.6219"
    assert Violation("params_M", 5.24902, 2.2).message == "params_M = 5.24902 is above the limit 2.2"
