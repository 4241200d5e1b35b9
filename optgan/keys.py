"""Every attribute key optgan stores in an Optuna study, as a pinned constant.

Stored keys are a file format: a study written today must resume with tomorrow's code, so
these strings are written out literally, never derived from class or module names, and never
renamed. Add new keys here (prefix ``optgan:``); do not change existing ones.
"""

from __future__ import annotations

# ---------------------------------------------------------------- study user attrs (a search)
#: name of the search a stage study belongs to
SEARCH_NAME = "optgan:search"
#: `gen` or `disc`
STAGE = "optgan:stage"
#: the resolved StudyConfig as JSON (what `make_sampler` and `optgan run` rebuild from)
CONFIG = "optgan:config"
#: run directory of the search (checkpoints, artifacts)
RUN_DIR = "optgan:run_dir"
#: random id of a search, also written to `<run_dir>/search.json`: a run directory serves one search
SEARCH_ID = "optgan:search_id"
#: study name of the other stage of the same search
LINKED_STUDY = "optgan:linked_study"

#: what the first real run loaded (on stage gen's study): {"name", "num_images", "fingerprint"}
#: of the data set, and the feature extractor's identity (weights hash, mode); later runs compare
DATA_IDENTITY = "optgan:data_identity"
EXTRACTOR_IDENTITY = "optgan:extractor_identity"

#: `optgan study move`: the storage (URL, password hidden) a search was moved to, on the source's
#: studies (it is then read-only there), and the one it came from, on the copy's
MOVED_TO = "optgan:moved_to"
MOVED_FROM = "optgan:moved_from"

#: study user attr prefix: + str(round) -> {phase: seconds, "total": seconds} of that round
ROUND_SECONDS_PREFIX = "optgan:round_seconds:"

# ---------------------------------------------------------------- trial user attrs (lineage)
#: generation (round) a trial belongs to: 0, 1, ...
GENERATION = "optgan:generation"
#: position of the trial in its generation, 0 .. population_size - 1 (ask order)
SLOT = "optgan:slot"
#: `initial`, `survivor`, `child` or `enqueued` (see ROLES)
ROLE = "optgan:role"
#: trial numbers of the trials this one came from (survivor: itself one round earlier)
PARENTS = "optgan:parents"
#: variation applied to a child: `crossover`, `mutation`, `crossover+mutation`
OPERATORS = "optgan:operators"
#: where an architecture enqueued by `optgan study enqueue` came from (its file, or `--arch` text)
ENQUEUED_FROM = "optgan:enqueued_from"

ROLE_INITIAL = "initial"
ROLE_SURVIVOR = "survivor"
ROLE_CHILD = "child"
ROLE_ENQUEUED = "enqueued"
ROLES = (ROLE_INITIAL, ROLE_SURVIVOR, ROLE_CHILD, ROLE_ENQUEUED)

# ---------------------------------------------------------------- sampler internals
#: trial system attr: index of the trial's entry in its generation's deterministic plan
PLAN_INDEX = "optgan:plan_index"
#: study system attr prefix: + str(g) -> trial ids of the survivors that seed generation g
SURVIVORS_PREFIX = "optgan:survivors:"

# ---------------------------------------------------------------- trial user attrs (results)
#: parameter count of the trial's architecture, millions
PARAMS_M = "params_M"
#: multiply-accumulates of one forward pass (batch 1), millions
FLOPS_M = "flops_M"
#: readable genotype ("c1: e0=bilinear, ...") and the reference integer rows
GENOTYPE = "genotype"
GENOTYPE_ARRAY = "genotype_array"
#: feature extractor that produced the scores (`inception`, `classifier`, `synthetic`)
EXTRACTOR = "extractor"
#: why a trial FAILed (non-finite evaluation, ...)
FAIL_REASON = "fail_reason"
#: artifact ids (optuna artifact store) of the trial's sample grid and architecture picture
SAMPLE_GRID_ARTIFACT = "sample_grid_artifact"
ARCH_PICTURE_ARTIFACT = "arch_picture_artifact"

# ---------------------------------------------------------------- stage `disc` study attrs
#: the generator genotype (JSON dict) every D candidate of stage `disc` is paired with
GEN_STAR = "optgan:gen_star"
#: where G* came from ("trial 12 of demo:gen" or "user override")
GEN_STAR_SOURCE = "optgan:gen_star_source"
