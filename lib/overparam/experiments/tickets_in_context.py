"""The chapter *Tickets in context*: its two experiments and the numbers it reports.

Part 1 (MNIST-1D): :func:`run_mnist1d` (the data split and :func:`overparam.context_mnist1d.run_mnist1d`),
:func:`analyse_mnist1d` (the summary, the paired differences at the lowest density, the densities at which
the largest context is below an ordinary one, the fine-tune gaps). Part 2 (teacher-student):
:func:`run_students` (:func:`overparam.context_students.run_students` per teacher width) and
:func:`analyse_students` (failure fractions, the seed-level counts). :func:`glue_names` names the prose's
numbers; :func:`findings`, :func:`summary` and :func:`tables` are what the chapter saves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import data, train
from ..book import finding, format_interval, verdict
from ..stats import MeanCI
from ..validate import check_float, check_int, resolve_device
from .. import context_mnist1d
from .. import context_students

__all__ = ["acc_below", "finetune_steps", "run_mnist1d", "MNIST1DAnalysis", "analyse_mnist1d", "run_students",
           "StudentsAnalysis", "analyse_students", "glue_names", "percent", "findings", "summary", "tables"]


def percent(d: float) -> str:
    """A density as the prose writes it: ``0.0625`` → ``"6.2%"``."""
    return f"{100 * d:.1f}%"


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def glue_names(prefix: str = "", record=(), **values) -> dict:
    """``{"tic-<prefix><name>": value}`` for every item of ``record`` (a mapping) and of ``values``; numpy
    scalars become Python numbers."""
    return {f"tic-{prefix}{name}": v.item() if isinstance(v, np.generic) else v
            for name, v in {**dict(record), **values}.items()}


def finetune_steps(finetune_fraction: float, n_steps: int) -> int:
    """The extracted ticket's fine-tune: ``finetune_fraction`` of ``n_steps`` updates, at least one."""
    check_float("finetune_fraction", finetune_fraction, min=0.0, max=1.0, min_inclusive=False)
    return max(1, round(finetune_fraction * check_int("n_steps", n_steps, min=1)))


def run_mnist1d(*, seed: int, n_seeds: int, densities, scales, rounds: int, fraction: float,
                output_fraction: float, n_steps: int, eval_every: int, finetune_fraction: float, lr: float,
                batch_size: int, val_fraction: float, hidden=(300, 100), dataset=None,
                device="cpu") -> context_mnist1d.MNIST1DContext:
    """Part 1's experiment: MNIST-1D (or ``dataset``) with ``val_fraction`` held out (split seed ``seed``),
    then :func:`overparam.context_mnist1d.run_mnist1d` (network ``hidden``) with minibatch Adam (``lr``,
    ``batch_size``) and a fine-tune of :func:`finetune_steps` updates; ``scales`` must include 0 and 1.
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``): where the data set is put and so where
    the networks train (draws on the CPU, moved)."""
    device = resolve_device(device)
    if 0.0 not in scales or 1.0 not in scales:
        raise ValueError(f"scales must include 0 and 1; got {list(scales)}")
    if n_steps % check_int("eval_every", eval_every, min=1):
        raise ValueError(f"eval_every must divide n_steps = {n_steps}; got {eval_every}")
    ds = data.mnist1d(device=device) if dataset is None else data.to_device(dataset, device)
    ds = data.validation_split(ds, val_fraction, seed)
    return context_mnist1d.run_mnist1d(
        ds, hidden=hidden, optimizer=train.Adam(lr, batch_size=batch_size), n_seeds=n_seeds, seed=seed,
        densities=densities, scales=scales, rounds=rounds, fraction=fraction, output_fraction=output_fraction,
        n_steps=n_steps, eval_every=eval_every, finetune_steps=finetune_steps(finetune_fraction, n_steps))


def acc_below(a: dict, b: dict) -> bool:
    """Record ``a``'s accuracy interval lies below ``b``'s (beyond both intervals)."""
    return a["acc_ci_high"] < b["acc_ci_low"]


@dataclass(frozen=True)
class MNIST1DAnalysis:
    """Part 1's numbers. ``summ``: :func:`overparam.context_mnist1d.summarize_mnist1d`; ``top``: the largest scale;
    ``pd_top``: context at ``top`` minus the ticket alone and ``pd_one``: context at ``s = 1`` minus the
    dense network, paired, at the lowest density; ``gap``: the ticket alone minus the ticket's part at
    ``s = 1`` there; ``below``: the density indices at which ``s = top`` ends below ``s = 1`` beyond both
    intervals; ``ft_gap``: per density, the ticket alone minus the fine-tuned extract (mean accuracy);
    ``glue``: the prose's numbers."""
    densities: tuple
    scales: tuple
    summ: dict
    top: float
    pd_top: MeanCI
    pd_one: MeanCI
    gap: MeanCI
    below: list
    ft_gap: list
    glue: dict

    def rec(self, i: int, s: float) -> dict:
        """The summary record of the context runs at the ``i``-th density and scale ``s``."""
        d = self.densities[i]
        return next(r for r in self.summ["mnist1d"] if r["density"] == d and r["scale"] == s)

    @property
    def ticket_alone(self) -> list:
        """Per density, the summary record of the ticket trained alone."""
        return self.summ["ticket_alone"]

    @property
    def dense(self) -> list:
        """Per density, the summary record of the dense network."""
        return self.summ["dense"]

    @property
    def extracted(self) -> list:
        """Per density, the summary record of the extracted (and fine-tuned) ticket."""
        return self.summ["extracted"]


def _mnist1d_glue(mn, summ, rec, top, pd_top, pd_one, below_idx, ft_gap) -> dict:
    ta = summ["ticket_alone"]
    out = {}
    recs = dict(top=rec(-1, top), one=rec(-1, 1.0), zero=rec(-1, 0.0), alone=ta[-1], dense=summ["dense"][-1],
                alone0=ta[0], ex=summ["extracted"][-1])
    for name, r in recs.items():
        out |= glue_names(name + "-", r)
    out |= glue_names("pd-top-", vars(pd_top)) | glue_names("pd-one-", vars(pd_one))
    out |= glue_names(top=top, alone_cens=100 * ta[-1]["censored_fraction"], gap_min=min(ft_gap),
                      gap_max=max(ft_gap), low_density=_markdown(percent(mn.densities[-1])))
    where = ", ".join(percent(mn.densities[i]) for i in below_idx)
    v = "cannot be told apart from the ticket alone here (the intervals overlap)"
    if acc_below(rec(-1, top), ta[-1]):
        v = "is below the ticket alone beyond both intervals"
    elif acc_below(ta[-1], rec(-1, top)):
        v = "is above the ticket alone beyond both intervals"
    return out | glue_names(below_text=_markdown(f"at {where} of the weights" if below_idx else "at no density"),
                            low_verdict=_markdown(v))


def analyse_mnist1d(mn: context_mnist1d.MNIST1DContext) -> MNIST1DAnalysis:
    """Part 1's numbers from :func:`run_mnist1d`'s result (see :class:`MNIST1DAnalysis`)."""
    summ = context_mnist1d.summarize_mnist1d(mn)
    top = max(mn.scales)
    recs = {(r["density"], r["scale"]): r for r in summ["mnist1d"]}
    rec = lambda i, s: recs[mn.densities[i], s]  # noqa: E731
    ta, ex = summ["ticket_alone"], summ["extracted"]
    pd_top = context_mnist1d.paired_difference(mn, -1, ("context", top))
    pd_one = context_mnist1d.paired_difference(mn, -1, ("context", 1.0), ("dense",))
    below_idx = [i for i in range(len(ta)) if acc_below(rec(i, top), rec(i, 1))]
    ft_gap = [t["acc_mean"] - e["finetuned_acc_mean"] for e, t in zip(ex, ta)]
    gap = context_mnist1d.paired_difference(mn, -1, ("ticket_alone",), ("context", 1.0), field="ticket_part_acc")
    return MNIST1DAnalysis(
        densities=tuple(mn.densities), scales=tuple(mn.scales), summ=summ, top=top, pd_top=pd_top,
        pd_one=pd_one, gap=gap, below=below_idx, ft_gap=ft_gap,
        glue=_mnist1d_glue(mn, summ, rec, top, pd_top, pd_one, below_idx, ft_gap))


def run_students(ks, n_seeds: int, seed: int, scales, *, n_steps: int, device="cpu") -> list:
    """Part 2's experiment: :func:`overparam.context_students.run_students` for each teacher width in ``ks``
    (``n_steps``: the gradient-descent step cap; ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"``, where the students train)."""
    device = resolve_device(device)
    return [context_students.run_students(k, n_seeds, seed, scales, n_steps=n_steps, device=device) for k in ks]


@dataclass(frozen=True)
class StudentsAnalysis:
    """Part 2's numbers. ``table``: :func:`overparam.context_students.summarize_students` as a DataFrame; ``K``: the
    widest teacher; ``t0``, ``t1``, ``tt``: its rows at ``s = 0``, ``1`` and the largest scale;
    ``separated``: the failure fraction at the largest scale lies above ``s = 0``'s beyond both Wilson
    intervals; ``n1``/``nt``: the holders whose ticket wins alone while the wide student fails at
    ``s = 1``/the largest scale; ``step_changes``: per ``k``, the holders whose ticket does not win at the
    wide step; ``glue``: the prose's numbers."""
    table: pd.DataFrame
    K: int
    t0: pd.Series
    t1: pd.Series
    tt: pd.Series
    separated: bool
    n1: int
    nt: int
    step_changes: dict
    glue: dict


def analyse_students(students: list, top: float) -> StudentsAnalysis:
    """Part 2's numbers from :func:`run_students`'s results; ``top``: the largest scale."""
    ts = pd.DataFrame(context_students.summarize_students(students))
    last = students[-1]
    K = last.k
    at = ts[ts.k == K].set_index("scale")
    t0, t1, tt = at.loc[0.0], at.loc[1.0], at.loc[top]
    separated = bool(tt.ci_low > t0.ci_high)
    alone_wins = last.wide[0.0].wins
    n1 = int((alone_wins & last.wide[1.0].fails).sum())  # alone wins, wide student at s = 1 fails
    nt = int((alone_wins & last.wide[top].fails).sum())
    step_changes = {str(st.k): int((~st.wide[0.0].wins).sum()) for st in students}
    n_changed = sum(step_changes.values())
    glue = glue_names(n1=n1, nt=nt) | glue_names("s0-", t0.to_dict()) | glue_names("s1-", t1.to_dict())
    glue |= glue_names("st-", tt.to_dict()) | glue_names(
        K=K, step_changes=n_changed, step_holders=int(ts[ts.scale == 0].holders.sum()),
        unresolved=int(ts.unresolved.sum()),
        step_text=_markdown(f"the smaller step alone changes {n_changed} outcomes, counted below."
                            if n_changed else "the smaller step changes nothing here."),
        ts_verdict=_markdown("above the failure fraction at $s = 0$ beyond both Wilson intervals" if separated
                             else "not separated from $s = 0$ here: the Wilson intervals overlap"))
    return StudentsAnalysis(table=ts, K=K, t0=t0, t1=t1, tt=tt, separated=separated, n1=n1, nt=nt,
                            step_changes=step_changes, glue=glue)


def findings(mna: MNIST1DAnalysis, sta: StudentsAnalysis, n_seeds: int) -> list:
    """The chapter's two rows of the front page's results table."""
    gap, tt, t0 = mna.gap, sta.tt, sta.t0
    ex1 = (f"MNIST-1D: a ticket at {percent(mna.densities[-1])} of the weights "
           "trained inside a fresh network (s = 1)")
    res1 = ("ticket alone minus the ticket's part of the trained network: "
            f"{format_interval(gap.mean, gap.low, gap.high)} in accuracy ({n_seeds} seeds)")
    ex2 = f"Safran–Shamir, k = {sta.K}: a ticket holder's extra neuron at {mna.top:g} × its initial row"
    res2 = (f"the wide student fails at {int(tt.wide_fails)} of {int(tt.holders)} ticket holders, "
            f"{format_interval(tt.fail_fraction, tt.ci_low, tt.ci_high, 2)} (ticket alone: {int(t0.wide_fails)})")
    return [finding("2", ex1, res1, verdict(gap.low, gap.high)),
            finding("2", ex2, res2, verdict(tt.ci_low, tt.ci_high))]


def summary(mn, mna: MNIST1DAnalysis, sta: StudentsAnalysis, *, profile: str, n_seeds: int, seed: int, ks,
            ts_seeds: int) -> dict:
    """The chapter's ``summary.json``."""
    out = dict(findings=findings(mna, sta, n_seeds), profile=profile, n_seeds=n_seeds, seed=seed, **mna.summ)
    out |= dict(densities=mn.densities, scales=mn.scales, imp_rounds=mn.rounds, ks=ks)
    out |= dict(config=mn.config, ts_seeds=ts_seeds, paired_top_minus_alone=vars(mna.pd_top))
    return out | dict(teacher_student=sta.table.to_dict("records"), alone_fails_at_wide_step=sta.step_changes)


def tables(mn, sta: StudentsAnalysis, students: list) -> dict:
    """The chapter's CSV tables, name → DataFrame."""
    return dict(mnist1d_runs=mn.runs, teacher_student=sta.table,
                teacher_student_runs=pd.concat([st.table() for st in students]))
