"""overparam: the library behind the executable paper "Tickets or Escape Dimensions?".

Plain functions on plain values, the seed axis first. Modules, one job each:

- rng: explicit random streams; validate: argument checks; stats: intervals;
- data: problems and data sets;
- mlp: batched MLPs (forward, loss, flatten; the masks check); train: their batched training
  (backprop: its forward and backward pass);
- prune: magnitude pruning and masks; lottery: the lottery-ticket experiment;
- hessian: exact Hessians of MLP losses; spectra: Lanczos, SLQ and Hutchinson on symmetric operators;
- landscape: split neurons, negative curvature, loss slices of MLPs;
- descent: the one batched descent loop with per-seed stopping, under train, ss_dynamics and the
  1-D control (one vocabulary of stop reasons);
- safran_shamir: the Safran–Shamir family in closed form (loss, gradient, Hessian);
- ss_dynamics: its gradient descent and the embeddings that add a neuron;
- tickets: Safran–Shamir subnetworks trained alone (tickets_control: the 1-D control);
  ticket_analysis: the lottery prediction's two halves;
- context: a ticket inside a perturbed network (context_mnist1d, context_students: the two tests);
- finisher: Newton finishing; certify: verdicts at critical points;
- census: certified census of end points across widths (census_counting: distinct minima and
  counts; census_runs: finishing, certifying, the two families);
- book and plotting: chapter helpers and house style; book_panels: precomputed panels (explore);
- shard: seed-block sharding of a sweep (in process or on a Dask cluster); sweeps: the book's large
  seed sweeps, sharded;
- experiments (subpackage): one module per chapter experiment; figures (subpackage): their figures.
"""
__version__ = "0.1.0"
