"""wuxia/configurator.py: which names are settings, --help, list options, typed config files, rules, and
machine errors as one-line messages."""
import errno
import math
import os
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_here
from wuxia.configurator import (AT_LEAST_1, NON_NEGATIVE, OUTPUT_DIR, POSITIVE, UNIT_INTERVAL, ConfigError,
                                configure, explain_machine_errors, settings_in_file)

SCRIPT = '''"""A script to test the configurator with."""
import os
import sys

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
config = configure(globals(), sys.argv[1:])
name = name.upper()  # after configure: not a setting's line
'''


def settings_shown(help_text):
    """The settings a --help lists, in order: the lines under its "Settings" heading that start with --name=."""
    return re.findall(r"^  --(\w+)=", help_text.split("Settings (default first")[1], flags=re.M)


@pytest.fixture
def script(tmp_path):
    """The globals of SCRIPT as they are when it calls configure(), with an imported module, a function, a
    private name and a constant imported from elsewhere beside its settings."""
    path = tmp_path / "script.py"
    path.write_text(SCRIPT, encoding="utf-8")
    namespace = {"__file__": str(path), "__doc__": "A script to test the configurator with.", "BEST": "ckpt_best.pt",
                 "_cache": "", "configure": configure}
    exec(SCRIPT.split("config = ")[0], namespace)
    return namespace


def test_the_settings_are_the_lowercase_plain_variables(script):
    with pytest.raises(ConfigError, match="unknown setting 'LIMIT'. Valid settings are: flag, input, n_layer, "
                                          "name, sizes, val_fraction"):
        configure(script, ["--LIMIT=4"])
    for not_a_setting in ("BEST", "_cache", "os", "configure"):
        with pytest.raises(ConfigError, match=f"unknown setting '{not_a_setting}'"):
            configure(script, [f"--{not_a_setting}=x"])
    assert configure(script, ["--n_layer=3"]) == {"input": [], "val_fraction": 0.1, "n_layer": 3, "sizes": [1, 10],
                                                   "name": "run", "flag": False}


def test_configure_leaves_the_excepthook_alone(script):
    before = sys.excepthook
    configure(script, ["--flag"])
    assert sys.excepthook is before and script["flag"] is True


def test_the_file_gives_each_setting_its_comment_and_group(script):
    assert settings_in_file(script["__file__"]) == [
        ("group", "data"), ("setting", "input", "files to read"), ("setting", "val_fraction", "share held out"),
        ("group", "model"), ("setting", "n_layer", "transformer blocks; more is slower"),
        ("setting", "sizes", "batch sizes"), ("setting", "name", ""), ("setting", "flag", "a switch")]
    assert settings_in_file(os.path.join(ROOT, "wuxia", "configurator.py")) is None  # calls no configure()


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
    assert sum(line.startswith("--name=run") for line in lines) == 1


def test_help_without_the_file_still_lists_every_setting(script, capsys):
    del script["__file__"]
    with pytest.raises(SystemExit):
        configure(script, ["-h"])
    assert settings_shown(capsys.readouterr().out) == ["input", "val_fraction", "n_layer", "sizes", "name", "flag"]


SCRIPTS = sorted(path.relative_to(ROOT).as_posix() for pattern in ("*.py", "bench/*.py", "data/*/*.py", "docs/*.py")
                 for path in Path(ROOT).glob(pattern) if settings_in_file(str(path)) is not None)


@pytest.mark.parametrize("script_path", SCRIPTS)
def test_every_script_writes_its_settings_above_configure(script_path):
    """What the file shows (for --help's comments and the docs' test) is what configure() finds as the script
    runs, and the script explains machine errors."""
    result = run_here(script_path, "--help")
    written = [entry[1] for entry in settings_in_file(os.path.join(ROOT, script_path)) if entry[0] == "setting"]
    assert result.returncode == 0 and settings_shown(result.stdout) == written
    with open(os.path.join(ROOT, script_path), encoding="utf-8") as f:
        assert "\nsys.excepthook = explain_machine_errors\n" in f.read()


def test_list_options_replace_the_default_then_append(script):
    configure(script, ["--input=a.txt", "b.txt", "--input=c.txt", "--sizes=2", "--sizes=4", "8"])
    assert script["input"] == ["a.txt", "b.txt", "c.txt"]
    assert script["sizes"] == [2, 4, 8]  # items typed like the default's
    with pytest.raises(ConfigError, match="--sizes expects an int, got 'x'"):
        configure(script, ["--sizes=1", "x"])


def test_config_file_values_are_typed_like_the_defaults(script, tmp_path):
    good, bad, unknown = tmp_path / "good.py", tmp_path / "bad.py", tmp_path / "unknown.py"
    good.write_text("val_fraction = 1  # an int where a float is expected is fine\nn_layer = 4\n")
    bad.write_text("n_layer = 4.5\n")
    unknown.write_text("import math\nn_layers = 4\n")
    configure(script, [str(good)])
    assert script["val_fraction"] == 1.0 and isinstance(script["val_fraction"], float) and script["n_layer"] == 4
    with pytest.raises(ConfigError, match="bad.py: n_layer = 4.5 must be an int, like the default 4"):
        configure(script, [str(bad)])
    with pytest.raises(ConfigError, match="unknown.py: unknown setting 'n_layers'. Valid settings are: flag, input"):
        configure(script, [str(unknown)])


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
    explain_machine_errors(OSError, OSError(errno.ENOSPC, "No space left on device", "out/ckpt.pt"), None)
    assert capsys.readouterr().err == ("error: No space left on device (out/ckpt.pt): the disk is full: free some "
                                       "space, or write somewhere else\n")
    try:
        raise ValueError("a bug")
    except ValueError as e:
        explain_machine_errors(ValueError, e, e.__traceback__)  # anything else keeps its traceback
    assert "Traceback" in capsys.readouterr().err
