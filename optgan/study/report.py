"""`optgan report`: a search's pictures and one static HTML page, for people who run no server.

Per stage with results: the Pareto picture of every round, the learning curves, and for the
last round's Pareto front each trial's scores, architecture picture and sample grid (copied
from the search's artifact store when the run stored one). Everything is redrawn from the
study, so a report can be written at any time, also while the run is going on.
"""

from __future__ import annotations

import html
import logging
import pathlib
import re
import shutil
from collections.abc import Sequence

from optuna.trial import FrozenTrial

from optgan import keys
from optgan.errors import OptganError
from optgan.search_space import Genotype
from optgan.study.artifacts import ARTIFACTS_DIRNAME
from optgan.study.results import choose_best
from optgan.study.round_artifacts import choice_rule
from optgan.study.search import STAGES, Search
from optgan.study.stage_pictures import (StageData, arch_name, draw_architecture, draw_learning_curves,
                                         draw_pareto, format_value, stage_data)
from optgan.study.study_note import lineage

__all__ = ["write_report"]

log = logging.getLogger(__name__)

_CSS = """body{font-family:sans-serif;margin:2em;max-width:1400px}img{max-width:100%}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
code{font-size:85%}td.genotype{max-width:22em}td.pics{white-space:nowrap}
td.pics img{height:300px;max-width:none;margin-right:1em;vertical-align:top}td.pics img.arch{height:520px}"""


def write_report(search: Search, out_dir: str | pathlib.Path, stages: Sequence[str] = STAGES) -> pathlib.Path:
    """Write `<out_dir>/index.html` and its pictures; returns the HTML path."""
    out = pathlib.Path(out_dir)
    _check_report_folder(out, search.name)
    out.mkdir(parents=True, exist_ok=True)
    for stage in stages:  # an update redraws its stages: no pictures of an earlier front are left behind
        if (out / stage).is_dir():
            shutil.rmtree(out / stage)
    pictures = search.run_dir / ARTIFACTS_DIRNAME
    if search.run_dir.is_dir() and not pictures.is_dir():  # (a missing run directory is the caller's to say)
        log.warning("%s holds no %s folder: the report has no sample grids", search.run_dir, ARTIFACTS_DIRNAME)
    sections = [_stage_section(search, stage, out) for stage in stages]
    body = "\n".join(s for s in sections if s) or "<p>No completed trial yet: run the search first.</p>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'>{_TITLE}{_e(search.name)}</title>"
            f"<style>{_CSS}</style></head><body><h1>Search <code>{_e(search.name)}</code></h1>\n"
            f"<p>Objectives: {_e(', '.join(search.labels))}; evaluation "
            f"<code>{_e(search.config.evaluation.kind)}</code>; run directory <code>{_e(str(search.run_dir))}</code>."
            f"</p>\n{body}\n</body></html>\n")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


_TITLE = "<title>optgan report: "


def _check_report_folder(out: pathlib.Path, name: str) -> None:
    """A report is written into a new or empty folder, or over an earlier report of the same search
    (never over other files, nor over another search's pictures)."""
    if not out.is_dir():
        return
    others = sorted(p.name for p in out.iterdir()  # hidden entries (.git, .DS_Store) are the folder's own
                    if p.name not in ("index.html", *STAGES) and not p.name.startswith("."))
    index = out / "index.html"
    head = index.read_text(encoding="utf-8", errors="replace")[:4096] if index.exists() else ""
    if others or (head and _TITLE not in head):
        what = f"files such as {others[0]}" if others else "an index.html of its own"
        raise OptganError(f"report folder {out} holds {what} (no optgan report there); give -o a new or empty "
                          "folder, or an earlier report's folder to update it")
    if head and f"{_TITLE}{_e(name)}</title>" not in head:
        found = re.search(re.escape(_TITLE) + r"(.*?)</title>", head)
        other = html.unescape(found.group(1)) if found else "another search"
        raise OptganError(f"report folder {out} holds the report of search {other!r}, not {name!r}; give -o a "
                          f"new or empty folder, or {name!r}'s own report folder to update it")


def _stage_section(search: Search, stage: str, out: pathlib.Path) -> str:
    study = search.study(stage)
    data = stage_data(study)
    if not data.rounds:
        return ""
    folder = out / stage
    cfg = search.config
    last = max(data.rounds)
    chosen = choose_best(study, list(cfg.objectives))
    paretos = {g: draw_pareto(data, g, folder, chosen=chosen.number if g == last else None) for g in data.rounds}
    curves = draw_learning_curves(data, last, folder)
    total = (cfg.gen_stage if stage == "gen" else cfg.disc_stage).rounds
    front = sorted(data.front_numbers(last))
    rows = [_trial_row(search, stage, t, data, folder, out, chosen.number)
            for t in data.rounds[last] if t.number in front]
    earlier = "".join(f"<li><a href='{_rel(p, out)}'>round {g + 1}</a></li>"
                      for g, p in paretos.items() if g != last and p)
    head = "".join(f"<th>{_e(n)} {'↑' if d == 'maximize' else '↓'}</th>" for n, d in zip(data.names, data.directions))
    return (f"<h2>Stage <code>{_e(stage)}</code> ({_e(study.study_name)}): {len(data.rounds)}/{total} rounds</h2>\n"
            f"<img src='{_rel(curves, out)}' alt='learning curves'>\n"
            f"<h3>Pareto front of round {last + 1}</h3>\n<img src='{_rel(paretos[last], out)}' alt='Pareto front'>\n"
            + (f"<details><summary>earlier rounds</summary><ul>{earlier}</ul></details>\n" if earlier else "")
            + f"<p>Chosen: trial {chosen.number} ({_e(choice_rule(list(cfg.objectives), cfg.directions, search.labels))}).</p>\n"
            f"<table><tr><th>trial</th>{head}<th>params / MACs</th><th>origin</th><th>genotype</th><th>pictures</th></tr>\n"
            + "\n".join(rows) + "</table>")


def _trial_row(search: Search, stage: str, t: FrozenTrial, data: StageData, folder: pathlib.Path,
               out: pathlib.Path, chosen: int) -> str:
    net = "gen" if stage == "gen" else "disc"
    genotype = Genotype.from_params(net, t.params)
    arch = draw_architecture(genotype, search.config.widths, folder / arch_name(t.number), label=f"trial {t.number}")
    pics = [f"<img class='arch' src='{_rel(arch, out)}' alt='architecture of trial {t.number}'>"]
    grid = _copy_sample_grid(search, t, folder)
    if grid is not None:
        pics.insert(0, f"<img src='{_rel(grid, out)}' alt='samples of trial {t.number}'>")
    values = "".join(f"<td>{format_value(v)}</td>" for v in t.values)
    star = " ★" if t.number == chosen else ""
    size = f"{format_value(t.user_attrs.get(keys.PARAMS_M))}M / {format_value(t.user_attrs.get(keys.FLOPS_M))}M"
    return (f"<tr><td>{t.number}{star}</td>{values}<td>{size}</td><td>{_e(lineage(t.user_attrs))}</td>"
            f"<td class='genotype'><code>{_e(str(genotype))}</code></td><td class='pics'>{''.join(pics)}</td></tr>")


def _copy_sample_grid(search: Search, t: FrozenTrial, folder: pathlib.Path) -> pathlib.Path | None:
    artifact_id = t.user_attrs.get(keys.SAMPLE_GRID_ARTIFACT)
    if not artifact_id:
        return None
    src = search.run_dir / ARTIFACTS_DIRNAME / str(artifact_id)
    if not src.is_file():  # a whole run directory that is not here is said once, by the caller
        (log.warning if src.parent.is_dir() else log.debug)("trial %d: sample grid %s is not in %s", t.number,
                                                             artifact_id, src.parent)
        return None
    dst = folder / f"samples-trial-{t.number:04d}.png"
    shutil.copyfile(src, dst)
    return dst


def _rel(path: pathlib.Path | None, out: pathlib.Path) -> str:
    return "" if path is None else html.escape(path.relative_to(out).as_posix(), quote=True)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
