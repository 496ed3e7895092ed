"""`make bench`: speed ratios measured in one run, printed one per line as `name: value`.

Each bench asserts the accuracy bar it states (fast path equal to its reference); a failed bar stops
`make bench` with a non-zero exit status.

Each bench_*.py runs in a fresh process of its own: the Hessian bench's large autograd allocations left
the heap in a state that made the training bench that followed it in the same process 1.5x slower.
`--device cuda` (`make bench DEVICE=cuda`) runs the training, Hessian and Safran–Shamir benches, both sides,
on the GPU (``BENCH_DEVICE``; an absent GPU is an error).
bench_shard.py runs one Safran–Shamir sweep in this process and on a two-worker local Dask cluster
(`sharded_vs_single_identical`, `sharded_2_workers_vs_single_speedup`)."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
ap = argparse.ArgumentParser(description="make bench: speed ratios, one per line")
ap.add_argument("--device", default=os.environ.get("DEVICE") or "cpu", choices=("cpu", "cuda", "auto"),
                help="torch device of the training, Hessian and Safran-Shamir benches (the Dask bench is CPU)")
args = ap.parse_args()
env = dict(os.environ, BENCH_DEVICE=args.device)
code = "import torch; torch.set_num_threads(2); import {0}; {0}.main()"
print(f"bench_device: {args.device}", flush=True)
for path in sorted(here.glob("bench_*.py")):
    subprocess.run([sys.executable, "-c", code.format(path.stem)], cwd=here, check=True, env=env)
