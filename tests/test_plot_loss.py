"""plot_loss.py and wuxia/plotting.py: a PNG of the expected size from a small log.csv, headless."""
import csv
import os
import struct
import subprocess
import sys

import pytest

from wuxia.plotting import DPI, FIGSIZE_INCHES, plot_runs, read_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_FIELDS = ["iter", "train_loss", "val_loss", "batch_loss", "lr", "tokens_per_sec", "elapsed_sec"]


def write_log(out_dir, peak_lr, val_losses):
    """A log.csv as train.py writes it: an eval row every 10 iterations, a log row every 5."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "log.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS)
        writer.writeheader()
        for k, val_loss in enumerate(val_losses):
            it = 10 * k
            if it:
                writer.writerow({"iter": it - 5, "batch_loss": 4.0 - 0.05 * it, "lr": peak_lr, "tokens_per_sec": 1000,
                                 "elapsed_sec": it})
                writer.writerow({"iter": it, "batch_loss": 3.9 - 0.05 * it, "lr": peak_lr, "tokens_per_sec": 1000,
                                 "elapsed_sec": it})
            writer.writerow({"iter": it, "train_loss": 4.0 - 0.05 * it, "val_loss": val_loss, "lr": peak_lr,
                             "elapsed_sec": it})


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])  # width, height from the IHDR chunk


def test_read_log_splits_eval_and_log_rows(tmp_path):
    write_log(tmp_path / "run", 1e-3, [4.2, 3.5, 3.7])
    columns = read_log(str(tmp_path / "run"))
    assert columns["val_loss"] == [(0, 4.2), (10, 3.5), (20, 3.7)]
    assert [it for it, _ in columns["batch_loss"]] == [5, 10, 15, 20]
    assert len(columns["lr"]) == 7


def test_plot_one_run_writes_png_of_expected_size(tmp_path):
    write_log(tmp_path / "run", 1e-3, [4.2, 3.5, 3.7])
    path = plot_runs([str(tmp_path / "run")], str(tmp_path / "run" / "loss.png"))
    assert os.path.getsize(path) > 10_000
    assert png_size(path) == (FIGSIZE_INCHES[0] * DPI, FIGSIZE_INCHES[1] * DPI) == (1000, 700)


@pytest.mark.slow
def test_cli_overlays_several_runs_headless(tmp_path):
    for name, lr in (("lr_1e-3", 1e-3), ("lr_1e-5", 1e-5)):
        write_log(tmp_path / name, lr, [4.2, 3.9, 3.8])
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "plot_loss.py", f"--out_dir={tmp_path / 'lr_1e-3'}",
                             str(tmp_path / "lr_1e-5")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert png_size(tmp_path / "loss_comparison.png") == (1000, 700)
    assert "loss_comparison.png" in result.stdout


def test_missing_log_names_the_file(tmp_path):
    with pytest.raises(SystemExit, match="log.csv not found"):
        plot_runs([str(tmp_path)], str(tmp_path / "loss.png"))


def test_importing_does_not_import_matplotlib():
    code = "import sys, wuxia.plotting; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_chinese_labels_get_a_font_with_chinese_glyphs():
    """Run names, labels and answers are often Chinese: with a CJK font installed, it comes first."""
    import matplotlib
    from matplotlib import font_manager
    from wuxia.plotting import CJK_FONTS, use_cjk_font
    use_cjk_font()
    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not any(name in installed for name in CJK_FONTS):
        pytest.skip("no Chinese font on this machine (Debian: apt-get install fonts-wqy-microhei)")
    first = matplotlib.rcParams["font.sans-serif"][0]
    assert first in CJK_FONTS and first in installed
    use_cjk_font()  # a second call changes nothing
    assert matplotlib.rcParams["font.sans-serif"].count(first) == 1
