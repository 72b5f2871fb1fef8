"""Plot training curves from the log.csv of one or more runs (train.py also does this at the end of every
run, leaving loss.png in its out_dir).

    python plot_loss.py --out_dir=out/pretrain_jinyong
    python plot_loss.py --out_dir=out/lr_1e-3 out/lr_3e-5 out/lr_1e-5 --output=out/lr_comparison.png

One run: train and val loss against iteration, the batch loss faint behind them, the best val loss marked,
the learning rate in a panel below. Several runs: the same, overlaid in one figure with a legend.
"""
import os
import sys

from wuxia.configurator import EXISTING_PATH, configure, explain_machine_errors
from wuxia.plotting import plot_runs

# -----------------------------------------------------------------------------------------------------------
out_dir = []     # one or more runs: --out_dir=out/a out/b ...
output = ""      # the PNG; default: <out_dir>/loss.png for one run, loss_comparison.png beside the runs for several
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"out_dir": EXISTING_PATH})

if not out_dir:
    raise SystemExit("name the run(s) to plot: python plot_loss.py --out_dir=out/pretrain_jinyong [more out_dirs]")
if not output:
    if len(out_dir) == 1:
        output = os.path.join(out_dir[0], "loss.png")
    else:
        output = os.path.join(os.path.dirname(os.path.normpath(out_dir[0])), "loss_comparison.png")
print(f"saved {plot_runs(out_dir, output)}")
