"""Loss curves from the log.csv that train.py writes in each out_dir (columns iter, train_loss, val_loss,
batch_loss, lr, tokens_per_sec, elapsed_sec; eval rows fill train_loss and val_loss, log rows batch_loss).

matplotlib is imported inside plot_runs(), so importing this module costs nothing and works without it.
The figure is drawn on matplotlib's Agg canvas directly (no pyplot), so it works headless and leaves the
backend of an interactive session alone.
"""
import csv
import os
import re

FIGSIZE_INCHES, DPI = (10, 7), 100  # the PNG is 1000 x 700 pixels
# fonts with Chinese glyphs, in order of preference: run names, labels and answers are often Chinese, and
# matplotlib's default font draws them as empty boxes (Debian: apt-get install fonts-wqy-microhei)
CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS"]


def use_cjk_font():
    """Put the installed Chinese fonts first in matplotlib's sans-serif list (once; a no-op without any)."""
    import matplotlib
    from matplotlib import font_manager
    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not any(name in installed for name in CJK_FONTS):
        # matplotlib caches the font list when first used: a font installed after that is not in it yet
        for path in font_manager.findSystemFonts():
            if re.search(r"wqy|NotoSans.*CJK|SourceHanSans|simhei|msyh|PingFang", os.path.basename(path), re.I):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):
                    continue
        installed = {font.name for font in font_manager.fontManager.ttflist}
    cjk = [name for name in CJK_FONTS if name in installed]
    current = matplotlib.rcParams["font.sans-serif"]
    matplotlib.rcParams["font.sans-serif"] = cjk + [name for name in current if name not in cjk]


def read_log(out_dir):
    """The run's log as columns: {name: list of (iter, value)} for each column, skipping empty cells."""
    path = os.path.join(out_dir, "log.csv")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found: train.py writes it while training; is {out_dir!r} a run's out_dir?")
    columns = {}
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            try:
                it = int(row["iter"])
                for name, cell in row.items():
                    if name != "iter" and cell not in (None, ""):
                        columns.setdefault(name, []).append((it, float(cell)))
            except (KeyError, TypeError, ValueError) as e:
                raise SystemExit(f"{path}, line {line_no}: cannot read {row} ({e}); expected the columns train.py "
                                 "writes: iter,train_loss,val_loss,batch_loss,lr,...")
    return columns


def run_names(out_dirs):
    """Each run's folder name; the path as given where two runs share a folder name."""
    names = [os.path.basename(os.path.normpath(d)) for d in out_dirs]
    return [name if names.count(name) == 1 else os.path.normpath(d) for name, d in zip(names, out_dirs)]


def plot_runs(out_dirs, path):
    """Train and val loss against iteration (the batch loss faint behind them, the best val loss marked)
    and the learning rate below, for one run or several overlaid. Saves a PNG at path; returns path."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        use_cjk_font()
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    logs = [read_log(d) for d in out_dirs]
    names = run_names(out_dirs)
    several = len(out_dirs) > 1

    fig = Figure(figsize=FIGSIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(fig)
    loss_ax, lr_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colors = [f"C{i % 10}" for i in range(len(out_dirs))]
    for log, name, color in zip(logs, names, colors):
        prefix = f"{name} " if several else ""
        if "batch_loss" in log:
            its, losses = zip(*log["batch_loss"])
            # several runs: the faint lines stay out of the legend, which would otherwise grow by one per run
            loss_ax.plot(its, losses, color=color, alpha=0.25, linewidth=0.8,
                         label="_batch loss" if several else "batch loss")
        if "train_loss" in log:
            its, losses = zip(*log["train_loss"])
            loss_ax.plot(its, losses, color=color, marker=".", label=f"{prefix}train loss")
        if "val_loss" in log:
            its, losses = zip(*log["val_loss"])
            loss_ax.plot(its, losses, color=color, marker=".", linestyle="--", label=f"{prefix}val loss")
            best_it, best = min(log["val_loss"], key=lambda point: point[1])
            loss_ax.plot([best_it], [best], color=color, marker="*", markersize=14, markeredgecolor="black",
                         linestyle="none", label=f"{prefix}best val {best:.4f} @ {best_it}")
        if "lr" in log:
            # at an eval iteration the log has two rows whose lr differ by one step: keep the first
            lr_by_iter = {}
            for it, lr in log["lr"]:
                lr_by_iter.setdefault(it, lr)
            lr_ax.plot(list(lr_by_iter), list(lr_by_iter.values()), color=color, label=name)
    loss_ax.set_ylabel("loss (nats per token)")
    loss_ax.set_title(", ".join(names) if len(", ".join(names)) < 100 else f"{len(names)} runs")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize="small")
    peak_lrs = [max(lr for _, lr in log["lr"]) for log in logs if log.get("lr")]
    # runs whose learning rates are tenfold apart or more (1e-3 vs 1e-5) are only readable on a log scale
    if peak_lrs and min(peak_lrs) > 0 and max(peak_lrs) / min(peak_lrs) >= 10:
        lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_xlabel("iteration")
    lr_ax.grid(alpha=0.3)
    if several:
        lr_ax.legend(fontsize="small")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    return path


def plot_bars(labels, values, xlabel, path, color="C0", xmax=None):
    """One horizontal bar per label (the first at the top), its value written beside it. Saves a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    use_cjk_font()
    fig = Figure(figsize=(8, 1.2 + 0.5 * len(labels)), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.barh(range(len(values)), values[::-1], color=color)  # by position: two rows may share a label
    ax.set_yticks(range(len(labels)), labels[::-1])
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:.3f}", va="center")
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, xmax or max(values) * 1.2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    return path
