"""wuxia/configurator.py: which names are settings, --help, list options, typed config files, rules, and
machine errors as one-line messages."""
import errno
import math

import pytest

from wuxia.configurator import (AT_LEAST_1, NON_NEGATIVE, OUTPUT_DIR, POSITIVE, UNIT_INTERVAL, ConfigError,
                                _machine_error_hook, configure, settings_section)

SCRIPT = '''"""A script to test the configurator with."""
import os

LIMIT = 3  # a module constant, not a setting
# -----------------------------------------------------------------------------
# data
input = []          # files to read
val_fraction = 0.1  # share held out
# model
n_layer = 2         # transformer blocks;
                    # more is slower
sizes = [1, 10]     # batch sizes
name = "run"
flag = False        # a switch
# -----------------------------------------------------------------------------
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT, encoding="utf-8")
    namespace = {"__file__": str(path), "__doc__": "A script to test the configurator with.", "os": None,
                 "LIMIT": 3, "BEST": "ckpt_best.pt"}
    exec(compile(SCRIPT.split("# ----")[1].split("\n", 1)[1], str(path), "exec"), namespace)
    return namespace


def test_only_the_block_between_the_rulers_holds_settings(script):
    section = settings_section(script["__file__"])
    assert section == [("group", "data"), ("setting", "input", "files to read"),
                       ("setting", "val_fraction", "share held out"), ("group", "model"),
                       ("setting", "n_layer", "transformer blocks; more is slower"),
                       ("setting", "sizes", "batch sizes"), ("setting", "name", ""), ("setting", "flag", "a switch")]
    with pytest.raises(ConfigError, match="unknown setting 'LIMIT'. Valid settings are: flag, input, n_layer, "
                                          "name, sizes, val_fraction"):
        configure(script, ["--LIMIT=4"])
    with pytest.raises(ConfigError, match="unknown setting 'BEST'"):
        configure(script, ["--BEST=x"])


def test_help_shows_defaults_comments_groups_and_rules(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        configure(script, ["--n_layer=5", "--help"], rules={"n_layer": AT_LEAST_1})
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("A script to test the configurator with.")
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("# data") < lines.index("# model")
    assert any(line.startswith("--n_layer=2") and line.endswith("transformer blocks; more is slower [at least 1]")
               for line in lines)  # the default, not the value given before --help
    assert any(line.startswith("--input=(none)") for line in lines) and "LIMIT" not in text


def test_list_options_replace_the_default_then_append(script):
    configure(script, ["--input=a.txt", "b.txt", "--input=c.txt", "--sizes=2", "--sizes=4", "8"])
    assert script["input"] == ["a.txt", "b.txt", "c.txt"]
    assert script["sizes"] == [2, 4, 8]  # items typed like the default's
    with pytest.raises(ConfigError, match="--sizes expects an int, got 'x'"):
        configure(script, ["--sizes=1", "x"])


def test_config_file_values_are_typed_like_the_defaults(script, tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("val_fraction = 1  # an int where a float is expected is fine\nn_layer = 4\n")
    bad.write_text("n_layer = 4.5\n")
    configure(script, [str(good)])
    assert script["val_fraction"] == 1.0 and isinstance(script["val_fraction"], float) and script["n_layer"] == 4
    with pytest.raises(ConfigError, match="bad.py: n_layer = 4.5 must be an int, like the default 4"):
        configure(script, [str(bad)])


@pytest.mark.parametrize("rule, good, bad", [
    (AT_LEAST_1, [1, 100], [0, -3]),
    (POSITIVE, [1e-9, 3.0], [0.0, -1.0, math.inf, math.nan]),
    (NON_NEGATIVE, [0.0, 2.0], [-0.1, math.inf]),
    (UNIT_INTERVAL, [0.0, 0.5, 1.0], [-0.01, 1.01]),
])
def test_rules(rule, good, bad):
    assert all(rule.problem(value) is None for value in good)
    assert all(rule.problem(value) == f"must be {rule.text}" for value in bad)


def test_rules_are_checked_on_every_item_and_name_the_setting(script):
    with pytest.raises(ConfigError, match=r"--sizes=0: must be at least 1"):
        configure(script, ["--sizes=3", "0"], rules={"sizes": AT_LEAST_1})


def test_output_dir_rule(tmp_path):
    (tmp_path / "file").write_text("x")
    assert OUTPUT_DIR.problem(str(tmp_path / "new" / "deeper")) is None
    assert OUTPUT_DIR.problem(str(tmp_path / "file")) == f"{tmp_path / 'file'} exists and is not a folder"
    assert "is a file, so the folder" in OUTPUT_DIR.problem(str(tmp_path / "file" / "run"))


def test_machine_errors_become_one_line(capsys):
    _machine_error_hook(OSError, OSError(errno.ENOSPC, "No space left on device", "out/ckpt.pt"), None)
    assert capsys.readouterr().err == ("error: No space left on device (out/ckpt.pt): the disk is full: free some "
                                       "space, or write somewhere else\n")
    try:
        raise ValueError("a bug")
    except ValueError as e:
        _machine_error_hook(ValueError, e, e.__traceback__)  # anything else keeps its traceback
    assert "Traceback" in capsys.readouterr().err
