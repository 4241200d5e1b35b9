#!/usr/bin/env bash
# One prepared GPU check, run on a lent device machine in the repository root after
# bench/device_prepare.sh filled `.whl/` here (see README, "Checking the GPU paths"):
#   device run, carry [".whl"], command "bash bench/device_check.sh", timeout_s 600
# (7-9 minutes of device time once the machine is up; the step limits add up to 9.4).
# Installs the carried wheels, runs every CUDA test (`pytest -m gpu`), then bench/train.py and
# bench/eval.py at paper widths; each result lands in $OUT as soon as it exists. Steps have
# their own time limits so one slow step cannot eat the others' time. The step lines and the
# summary also go to $OUT/summary.txt; at the end bench/device_pack.sh packs the logs into one
# archive, since the device tool returns at most 8 files.
#   bash bench/device_check.sh [STEP ...]
# runs only the steps named (in this file's order); without names, the standard check (the steps
# below that are not in EXPERIMENTS). The experiments try ideas for the open speed targets and
# run only when named, e.g. `bash bench/device_check.sh cuda-tests bench-train bench-eval
# bench-eval-batch1000` (the README's "Checking the GPU paths" says which calls fit the budget).
set -uo pipefail
STANDARD="cuda-tests bench-train bench-ops bench-eval bench-final"
EXPERIMENTS="bench-upsample-order bench-eval-batch1000 bench-eval-autotune"
for s in "$@"; do
  case " $STANDARD $EXPERIMENTS " in *" $s "*) ;; *) echo "unknown step: $s (steps: $STANDARD $EXPERIMENTS)" >&2; exit 2;; esac
done
SELECTED=" ${*:-$STANDARD} "
OUT=${OUT:-/tmp/optgan-device-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! python3 -c "import optuna, torch_fidelity" 2>/dev/null; then  # the device image lacks them: carried wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  ln -sfn "$PWD/cli" /tmp/site/optgan_cli
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi -L; python3 -c "import torch, optuna, torch_fidelity; print('torch', torch.__version__, 'optuna', optuna.__version__)"
WEIGHTS=()
if [ -f .whl/w/inception_fp16.pth ]; then  # pool3-only weights (FID/KID), expanded back to fp32
  python3 -c "import torch; sd = torch.load('.whl/w/inception_fp16.pth', weights_only=True); torch.save({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, '/tmp/inception.pth')"
  WEIGHTS=(--inception-weights /tmp/inception.pth)
fi
DATA=.whl/w/test-2k.npz
[ -f "$DATA" ] || DATA=../shared/data/cifar10/test-2k.npz
if [ ! -f ../shared/data/cifar10/test-2k.npz ] && [ -f .whl/w/test-2k.npz ]; then
  # ../shared does not travel to a device machine: the carried subset serves the CUDA tests that read it
  mkdir -p /tmp/optgan-shared/cifar10 && cp .whl/w/test-2k.npz /tmp/optgan-shared/cifar10/
  export OPTGAN_SHARED_DATA=/tmp/optgan-shared
fi
step() {  # step NAME SECONDS COMMAND...: run with a limit, keep its log, report its exit code
  local name=$1 limit=$2; shift 2
  [[ $SELECTED == *" $name "* ]] || return 0
  echo "== $name (limit ${limit}s)" | tee -a "$OUT/summary.txt"
  timeout "$limit" "$@" > "$OUT/$name.out" 2> "$OUT/$name.log"
  local rc=$?
  echo "== $name: exit $rc, $(tr '\r' '\n' < "$OUT/$name.log" 2>/dev/null | grep -v '^ *$' | tail -n 1 | cut -c1-200)" \
    | tee -a "$OUT/summary.txt"
}
step cuda-tests 80 python3 -m pytest -q -m gpu -p no:cacheprovider tests
[ ! -f "$OUT/cuda-tests.out" ] || tail -n 15 "$OUT/cuda-tests.out" | tee -a "$OUT/summary.txt"
# fast path (the fp32 / eager / loss-curve comparisons, and op_forms: rewritten with --variants
# auto+cl+graphs+rw, were measured before: README), a whole round, and a kernel table of the fast
# path (where the time of an iteration goes: convs by kind, element-wise)
step bench-train 205 python3 bench/train.py --data "$DATA" "${WEIGHTS[@]}" --metrics-mode fast --variants "" \
  --skip fp32,compare --blocks 600 --eval-images 2000 --profile "$OUT/bench-train-profile.txt" \
  --out "$OUT/bench-train.json"
# experiment (issue #5): G's 1×1 convs of upsampled inputs before the upsampling (the default since
# 2026-12-04) against the reference order, one iteration's G work side by side (GPU kernel time)
step bench-upsample-order 40 python3 bench/upsample_order.py --reps 5 --out "$OUT/bench-upsample-order.json"
# the cost of every G op at its shapes (GPU kernel time), and three exact re-formulations of some of them
step bench-ops 40 python3 bench/ops.py --reps 10 --out "$OUT/bench-ops.json"
step bench-eval 130 python3 bench/eval.py --data "$DATA" "${WEIGHTS[@]}" --extractors inception --candidates 8 \
  --naive-candidates 1 --modes exact,fast --overlap both --out "$OUT/bench-eval.json"
# experiments for issue #4's fast mode: a batch of 1,000 images (FID deviations against the
# exact scores of bench-eval, run before it in the same call), and Inductor's Triton conv
# templates (minutes of autotuning, once; it measures its own exact scores, so it can run alone)
step bench-eval-batch1000 100 python3 bench/eval.py --data "$DATA" "${WEIGHTS[@]}" --extractors inception \
  --candidates 8 --naive-candidates 0 --modes fast --overlap on --batch-size 1000 \
  --exact-from "$OUT/bench-eval.json" --out "$OUT/bench-eval-batch1000.json"
step bench-eval-autotune 240 python3 bench/eval.py --data "$DATA" "${WEIGHTS[@]}" --extractors inception \
  --candidates 8 --naive-candidates 0 --modes exact,fast --overlap on --compile-mode max-autotune-no-cudagraphs \
  --out "$OUT/bench-eval-autotune.json"
step bench-final 110 python3 bench/final.py --data "$DATA" --precisions tf32,bf16 --warmup 10 --iterations 60 \
  --out "$OUT/bench-final.json"
python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
try:
    t = json.loads((out / "bench-train.json").read_text())
    print("train it/s:", t.get("iterations_per_s"), "round:", (t.get("round_seconds") or {}).get("paper_round_estimate_s"))
    its = t.get("iterations_per_s") or {}
    if its.get("round_fast") and its.get("round_auto+cl+graphs+rw"):  # then default op_forms: rewritten if > 1
        print("op_forms rewritten / native (round):", round(its["round_auto+cl+graphs+rw"] / its["round_fast"], 3))
    print("train targets:", t.get("targets"))
    print("train profile (ms per iteration, wall vs device busy):", t.get("profile_ms_per_iteration"))
except Exception as e:  # noqa: BLE001
    print("bench-train: no JSON", e)
try:
    o = json.loads((out / "bench-ops.json").read_text())["results"]
    ms = lambda g: g["device_ms"] if g["device_ms"] is not None else g["wall_ms"]  # noqa: E731
    for k, r in sorted(o.items(), key=lambda kv: -ms(kv[1]["forward_backward_g"]))[:10]:
        g = r["forward_backward_g"]
        print(f"op {k}: G step {ms(g)} ms ({'kernels' if g['device_ms'] is not None else 'wall'}), "
              f"{g['tflop_per_s']} TFLOP/s", {x: g[x] for x in g if x == "speedup_vs_native"})
    for k, r in o.items():
        if "speedup_vs_native" in r["forward_backward_g"]:
            print(f"op {k}: speed-up {r['forward_d']['speedup_vs_native']} (D step) / "
                  f"{r['forward_backward_g']['speedup_vs_native']} (G step), difference {r['max_rel_difference_fp32']:.1e}")
except Exception as err:  # noqa: BLE001
    print("bench-ops: no JSON", err)
try:
    u = json.loads((out / "bench-upsample-order.json").read_text())
    print("G convs at low resolution vs upsample first (ms per iteration, G work):", u["ms_per_iteration_g_work"],
          "speed-up", u["speedup_low_res_vs_upsample_first"], "difference", u["max_rel_difference_fp32"])
except FileNotFoundError:
    pass  # not asked for
except Exception as err:  # noqa: BLE001
    print("bench-upsample-order: unreadable JSON", err)
for path in sorted(out.glob("bench-eval*.json"), key=lambda p: (p.stem != "bench-eval", p.name)):  # then the experiments
    try:
        e = json.loads(path.read_text())
        for k, r in e["results"].items():
            if "measured_in" in r:
                continue  # an earlier step's result, printed there
            print(f"{path.stem} {k} (batch {e.get('batch_size')}): {r['images_per_s_end_to_end']} img/s end to end, "
                  f"extractor {r['images_per_s_extractor_only']}, scoring {r.get('scoring_s_per_candidate')} s/candidate, "
                  f"set-up {r.get('setup_s')} s",
                  {x: r[x] for x in r if "deviation" in x or "speedup" in x or "difference" in x})
        print(f"{path.stem} targets:", e.get("targets"))
    except Exception as err:  # noqa: BLE001
        print(f"{path.stem}: unreadable JSON", err)
try:
    f = json.loads((out / "bench-final.json").read_text())
    for k, r in f["results"].items():
        print(f"final {k}: {r['d_iterations_per_s']} D it/s, {r['full_run_hours_training_only']} h, "
              f"losses {r['mean_loss_d']} / {r['mean_loss_g']}",
              {x: r[x] for x in ("speedup_vs_eager", "loss_difference_vs_eager", "cuda_graphs") if x in r})
except Exception as err:  # noqa: BLE001
    print("bench-final: no JSON", err)
PY
bash bench/device_pack.sh "$OUT"  # the tool returns 8 files: JSON and summary as they are, the rest in logs.tar.gz
