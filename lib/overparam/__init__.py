"""overparam: the library behind the executable paper "Tickets or Escape Dimensions?".

Plain functions on plain values, the seed axis first. Modules:
rng (explicit random streams), validate (argument checks), stats (intervals), data (problems and
data sets), mlp and train (batched MLPs and their training), prune and lottery (magnitude pruning,
the lottery-ticket experiment), tickets (Safran-Shamir subnetworks), context (a ticket inside a
perturbed network), safran_shamir (the closed-form Safran-Shamir family), finisher and certify
(Newton finishing, verdicts), census (certified census of end points across widths), hessian and
landscape (exact Hessians, spectra, slices), book and plotting (chapter helpers, house style).
"""
__version__ = "0.1.0"
