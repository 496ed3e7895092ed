"""`make bench`: speed ratios measured in one run, printed one per line as `name: value`."""
import importlib
import pkgutil
import sys
from pathlib import Path

import torch

torch.set_num_threads(2)
sys.path.insert(0, str(Path(__file__).parent))
for mod in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")):
    importlib.import_module(mod).main()
