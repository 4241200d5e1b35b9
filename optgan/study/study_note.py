"""The Markdown study note optuna-dashboard shows on a stage study's page.

It summarises the set-up (objectives, evaluation, population, caps, widths, data, the linked
study, G* for stage `disc`), the progress per round with the normalised hypervolume, the
latest Pareto and learning-curve pictures (inline, served by the dashboard's artifact route)
and, once the stage is done, the chosen architecture with its scores. Built by a pure
function; :func:`optgan.study.round_artifacts.record_round` saves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from optgan import keys
from optgan.config.study import StudyConfig
from optgan.study.pictures import HV_REFERENCE
from optgan.study.stage_pictures import StageData, format_value

__all__ = ["NoteInputs", "lineage", "stage_note_markdown", "trial_note_markdown"]

_STAGE_TEXT = {
    "gen": "searches generators (EAGAN stage 1: the G supernet trained against one fixed D)",
    "disc": "searches discriminators for the fixed generator G* (EAGAN stage 2)",
}


@dataclass(frozen=True)
class NoteInputs:
    """What the note shows besides the config: progress, pictures and the choice."""

    search_name: str
    stage: str
    study_attrs: Mapping[str, Any]
    rounds_done: int
    rounds_total: int
    #: caption -> URL path of an image artifact (e.g. `/artifacts/3/<id>`)
    pictures: Mapping[str, str] = field(default_factory=dict)
    chosen: FrozenTrial | None = None
    chosen_picture: str | None = None
    #: how `chosen` was picked (e.g. "lowest FID on the last round's Pareto front")
    rule: str = ""


def stage_note_markdown(config: StudyConfig, data: StageData, inputs: NoteInputs) -> str:
    """The whole note: set-up table, progress table, pictures, chosen architecture."""
    parts = [_header(inputs), _setup(config, data, inputs), _progress(data, inputs)]
    parts += [f"![{cap}]({url})" for cap, url in inputs.pictures.items()]
    if inputs.chosen is not None:
        parts.append(_chosen(data, inputs))
    return "\n\n".join(p for p in parts if p) + "\n"


def _header(inputs: NoteInputs) -> str:
    done = "finished" if inputs.rounds_done >= inputs.rounds_total else "running or paused"
    return (f"## Search `{inputs.search_name}` — stage `{inputs.stage}`\n\n"
            f"This study {_STAGE_TEXT.get(inputs.stage, '')}. "
            f"**{inputs.rounds_done}/{inputs.rounds_total} rounds** ({done}).")


def _setup(config: StudyConfig, data: StageData, inputs: NoteInputs) -> str:
    net = "gen" if inputs.stage == "gen" else "disc"
    stage_cfg = config.gen_stage if net == "gen" else config.disc_stage
    s = config.sampler
    objectives = ", ".join(f"{n} {'↑' if d == 'maximize' else '↓'}" for n, d in zip(data.names, data.directions))
    evaluation = ("synthetic values from each genotype (dry run, no training)"
                  if config.evaluation.kind == "synthetic"
                  else f"supernet training, {config.metrics.num_images} images per candidate, "
                       f"extractor `{config.metrics.extractor}`")
    w = config.widths
    rows = [
        ("objectives", objectives),
        ("evaluation", evaluation),
        ("population", f"{s.population_size} per round, selection `{s.selection}`, "
                       f"crossover {s.crossover_prob}, mutation {s.mutation_prob}"),
        ("training", f"{stage_cfg.rounds} rounds × {stage_cfg.epochs_per_round} epochs"
                     + (f", warm-up {config.gen_stage.warmup_epochs} epochs" if net == "gen" else "")),
        ("caps", _caps(config.caps.for_net(net))),
        ("widths", f"gf_dim {w.gf_dim}, df_dim {w.df_dim}, latent {w.latent_dim}, "
                   f"{w.img_size}×{w.img_size} images"),
        ("data", f"`{config.data.name}`"),
        ("linked study", f"`{inputs.study_attrs.get(keys.LINKED_STUDY, '—')}`"),
        ("run directory", f"`{inputs.study_attrs.get(keys.RUN_DIR, '—')}`"),
    ]
    if net == "disc" and keys.GEN_STAR in inputs.study_attrs:
        rows.append(("G*", f"{inputs.study_attrs.get(keys.GEN_STAR_SOURCE, '?')}"))
    return "### Set-up\n\n| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _caps(caps: Any) -> str:
    parts = []
    for name in ("params_M", "cell_params_M", "flops_M"):
        rng = getattr(caps, name, None)
        if rng is not None:
            lo, hi = rng
            parts.append(f"{name} ∈ [{'-' if lo is None else lo}, {'-' if hi is None else hi}]")
    return ", ".join(parts) or "none"


def _progress(data: StageData, inputs: NoteInputs) -> str:
    gens = sorted(set(data.rounds) | set(data.failed))
    if not gens:
        return ""
    hv = data.hypervolumes()
    head = "| round | complete | failed | " + " | ".join(f"best {n}" for n in data.names) + " | hypervolume |"
    sep = "|" + "---|" * (len(data.names) + 4)
    lines = [head, sep]
    for g in gens:
        v = data.values(g)
        best = [format_value(float(v[:, j].max() if d == "maximize" else v[:, j].min())) if len(v) else "—"
                for j, d in enumerate(data.directions)]
        lines.append(f"| {g + 1} | {len(v)} | {data.failed.get(g, 0)} | {' | '.join(best)} | "
                     f"{format_value(hv.get(g))} |")
    return ("### Progress\n\n" + "\n".join(lines) + "\n\n"
            f"Hypervolume: objectives scaled to [0, 1] by their range over all rounds, reference "
            f"point {HV_REFERENCE} in each (comparable across rounds of this study only).")


def _chosen(data: StageData, inputs: NoteInputs) -> str:
    t = inputs.chosen
    assert t is not None
    scores = ", ".join(f"{n} = {format_value(v)}" for n, v in zip(data.names, t.values or []))
    what = "G*" if inputs.stage == "gen" else "D*"
    text = (f"### Chosen architecture ({what})\n\n"
            f"Trial **{t.number}** (round {int(t.user_attrs.get(keys.GENERATION, -1)) + 1}): {scores}; "
            f"{format_value(t.user_attrs.get(keys.PARAMS_M))}M params, "
            f"{format_value(t.user_attrs.get(keys.FLOPS_M))}M MACs. "
            f"{'Rule: ' + inputs.rule + '.' if inputs.rule else ''}\n\n"
            f"`{t.user_attrs.get(keys.GENOTYPE, '')}`\n\n"
            f"Export it: `optgan export {inputs.search_name} --stage {inputs.stage} -o best_{inputs.stage[0]}.json`")
    if inputs.chosen_picture:
        text += f"\n\n![architecture of trial {t.number}]({inputs.chosen_picture})"
    return text


def lineage(attrs: Mapping[str, Any], quote: Callable[[str], str] = str) -> str:
    """Where a trial came from, from its user attrs: `child of trials 3, 5 (crossover)`,
    `survivor of trial 2`, `enqueued from <quote(source)>`."""
    parents = attrs.get(keys.PARENTS) or []
    text = f"{attrs.get(keys.ROLE, '?')}" + (
        f" of trial{'s' if len(parents) > 1 else ''} {', '.join(map(str, parents))}" if parents else "")
    if attrs.get(keys.OPERATORS):
        text += f" ({attrs[keys.OPERATORS]})"
    if attrs.get(keys.ENQUEUED_FROM):
        text += f" from {quote(str(attrs[keys.ENQUEUED_FROM]))}"
    return text


def trial_note_markdown(trial: FrozenTrial, data: StageData, *, on_front: bool, urls: Mapping[str, str]) -> str:
    """A trial's note: lineage, named scores, sizes, and its pictures inline (`urls`: caption -> URL)."""
    a = trial.user_attrs
    rnd = int(a.get(keys.GENERATION, -1)) + 1
    lines = [f"### Trial {trial.number} · round {rnd} · {lineage(a, quote=lambda s: f'`{s}`')}"]
    if trial.values:
        lines.append("| " + " | ".join(f"{n} {'↑' if d == 'maximize' else '↓'}"
                                          for n, d in zip(data.names, data.directions)) + " |\n"
                     + "|" + "---|" * len(data.names) + "\n"
                     + "| " + " | ".join(format_value(v) for v in trial.values) + " |")
    else:
        lines.append(f"**{trial.state.name}**: {a.get(keys.FAIL_REASON, 'no values')}")
    front = f"**on the Pareto front of round {rnd}**" if on_front else f"dominated in round {rnd}"
    lines.append(f"{front}; {format_value(a.get(keys.PARAMS_M))}M params, {format_value(a.get(keys.FLOPS_M))}M MACs, "
                 f"extractor `{a.get(keys.EXTRACTOR, '?')}`.")
    lines += [f"![{cap}]({url})" for cap, url in urls.items()]
    return "\n\n".join(lines) + "\n"
