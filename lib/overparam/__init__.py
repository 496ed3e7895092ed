"""overparam: the library behind the executable paper "Tickets or Escape Dimensions?".

Plain functions on plain values, the seed axis first. Modules:
rng (explicit random streams), validate (argument checks), stats (intervals),
data, mlp, train, safran_shamir, prune, hessian, landscape, certify, results, plotting.
"""
__version__ = "0.1.0"
