"""One configurator for every script (nanoGPT's idea, without exec'ing into globals behind your back).

A script lists its settings as module-level variables at its top, then calls

    sys.excepthook = explain_machine_errors
    config = configure(globals(), sys.argv[1:], rules={"batch_size": AT_LEAST_1, ...})

The settings are the module-level variables with lowercase names and plain values (bool, int, float, str, list
or None) that exist when configure() is called: `n_layer = 6` is one; a constant (`BEST = "ckpt_best.pt"`), a
`_private` name, an imported module or a function is not. Arguments are applied left to right:
  - `path/to/file.py`  runs the file and takes the settings it assigns (a config file); each value must have
                       the type of the default, as on the command line;
  - `--key=value`      sets one setting; the value is parsed as a Python literal when it looks like one
                       and must have the type of the default (an int default accepts 3, a float 3 or 3e-4);
  - list settings: the first `--input=a` on the command line replaces the default (or the config file's
    value), every further `--input=b` appends, and so do bare words after it (`--input=a.txt b.txt c/`), so
    a shell glob works;
  - `--help` (or `-h`) prints the script's docstring and its settings (default, the comment beside it in the
    script, allowed values, under the comment lines that head its group) and exits.
An unknown key is an error that lists the valid ones. Then every rule is checked (a value out of range, a
path that does not exist, ...), so a mistake stops the script before any work, with a message naming the
setting. With `explain_machine_errors` as its excepthook, a script that meets an error of the machine (a full
disk, no permission, a path that is a file) ends with a one-line message instead of a traceback.
"""
import ast
import errno
import io
import math
import os
import re
import sys
import tokenize


class ConfigError(SystemExit):
    """Raised for bad command lines; a SystemExit so scripts end with the message, not a traceback."""


# -----------------------------------------------------------------------------------------------------------
# rules: one definition each, used by every script that has such a setting

class Rule:
    """A condition on a setting's value. `ok(value)` returns True, or False / a message saying what is wrong;
    `text` says what is allowed (shown by --help and in the error)."""

    def __init__(self, text, ok):
        self.text, self.ok = text, ok

    def problem(self, value):
        result = self.ok(value)
        if result is True:
            return None
        return result or f"must be {self.text}"


def at_least(n):
    return Rule(f"at least {n}", lambda v: v >= n)


def one_of(*choices):
    return Rule("one of " + ", ".join(map(str, choices)), lambda v: v in choices)


def _compiles(pattern):
    try:
        re.compile(pattern)
    except re.error as e:
        return f"is not a valid regular expression: {e}"
    return True


def _existing(path):
    return path == "" or os.path.exists(path) or f"not found: {path} (from {os.getcwd()})"


def _creatable_dir(path):
    """A folder that exists and can be written to, or can be created (its nearest existing parent is a
    writable folder)."""
    if path == "":
        return True
    if os.path.exists(path):
        if not os.path.isdir(path):
            return f"{path} exists and is not a folder"
        return os.access(path, os.W_OK | os.X_OK) or f"no permission to write in {path}"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is a file, so the folder {path} cannot be created"
    return os.access(parent, os.W_OK | os.X_OK) or f"no permission to create {path} (in {parent})"


def _creatable_file(path):
    """A file that can be written: not a folder, in a folder that exists or can be created."""
    if os.path.isdir(path):
        return f"{path} is a folder: name a file"
    return _creatable_dir(os.path.dirname(path))


AT_LEAST_0 = at_least(0)
AT_LEAST_1 = at_least(1)
POSITIVE = Rule("a finite number above 0", lambda v: math.isfinite(v) and v > 0)
NON_NEGATIVE = Rule("a finite number, 0 or more", lambda v: math.isfinite(v) and v >= 0)
FRACTION = Rule("between 0 and 1, both excluded", lambda v: 0 < v < 1)
UNIT_INTERVAL = Rule("from 0 to 1", lambda v: 0 <= v <= 1)
BELOW_ONE = Rule("from 0 to 1, 1 excluded", lambda v: 0 <= v < 1)
REGEX = Rule("a regular expression", _compiles)
EXISTING_PATH = Rule("an existing file or folder", _existing)
OUTPUT_DIR = Rule("a folder that exists or can be created", _creatable_dir)
OUTPUT_FILE = Rule("a file in a folder that exists or can be created", _creatable_file)
DEVICE = Rule("auto, cpu, cuda, cuda:N or mps", lambda v: re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None)
DTYPE = one_of("auto", "float32", "bfloat16", "float16", "int8")


# -----------------------------------------------------------------------------------------------------------
# parsing values

_TYPE_NAMES = {bool: "true or false", int: "an int", float: "a float", str: "a string"}


def _type_name(default):
    if isinstance(default, (list, tuple)):
        return f"a list of {_TYPE_NAMES[type(_item_default(default))].split()[-1]} values"
    return _TYPE_NAMES.get(type(default), type(default).__name__)


def _type_problem(value, default):
    """None when value may replace default (same type; an int where a float is expected; a list of items
    of the type of the default's items), else what is expected."""
    if default is None:
        return None
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple)) and all(not _type_problem(v, _item_default(default)) for v in value)
    else:
        ok = type(value) is type(default)
    return None if ok else _type_name(default)


def _item_default(default):
    """What one item of a list setting is like: its default's first item, or a string."""
    return default[0] if default else ""


def _parse_value(key, text, default):
    if isinstance(default, str):
        return text  # strings are taken verbatim, so --start=你好 and --out_dir=out/x need no quoting
    if default is None:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{key} expects true or false, got {text!r}")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    if _type_problem(value, default):
        raise ConfigError(f"--{key} expects {_type_name(default)}, got {text!r}")
    return float(value) if isinstance(default, float) else value


def _unknown(key, settings, where=""):
    valid = ", ".join(sorted(settings))
    return ConfigError(f"{where}unknown setting {key!r}. Valid settings are: {valid} (see --help)")


def _apply_config_file(path, namespace, settings):
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    file_settings = {}
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), {}, file_settings)
    for key, value in file_settings.items():
        if key.startswith("_") or callable(value) or type(value).__name__ == "module":
            continue
        if key not in settings:
            raise _unknown(key, settings, f"{path}: ")
        expected = _type_problem(value, namespace[key])
        if expected:
            raise ConfigError(f"{path}: {key} = {value!r} must be {expected}, like the default "
                              f"{namespace[key]!r}")
        namespace[key] = float(value) if isinstance(namespace[key], float) else value


# -----------------------------------------------------------------------------------------------------------
# which variables are settings (decided by their names and values, as the script runs), and what they mean:
# --help reads the comment beside each one in the script (the source is read for nothing else)

def _is_setting(name, value):
    return name.islower() and not name.startswith("_") and \
        isinstance(value, (bool, int, float, str, list, tuple, type(None)))


def _show(value):
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) if value else "(none)"
    if value == "":
        return '""'
    return str(value)


_SETTING_LINE = re.compile(r"([a-z][a-z0-9_]*)\s*=(?!=)")
_CONFIGURE_LINE = re.compile(r"(\w+\s*=\s*)?configure\(")


def settings_in_file(path):
    """How a script writes its settings, for --help and the docs' test: [("group", heading) | ("setting", name,
    comment)] in file order. Settings are the lowercase names assigned at the start of a line above the line
    that calls configure(); a comment beside one is its meaning (continued on comment lines indented below
    it), and the comment lines just above it head a group (a ruler, # -----, does not). None when the file
    cannot be read or calls no configure()."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except OSError:
        return None
    comments = {token.start[0]: (token.start[1], token.string.lstrip("#").strip())
                for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    entries, headings, continues = [], [], False  # continues: an indented comment line goes on the setting's
    for number, line in enumerate(source.splitlines(), start=1):
        if _CONFIGURE_LINE.match(line):
            return entries
        column, comment = comments.get(number, (None, ""))
        setting = _SETTING_LINE.match(line)
        comment_only = column is not None and not line[:column].strip()
        if setting:
            entries += headings + [("setting", setting[1], comment)]
            headings, continues = [], True
        elif comment_only and column > 0 and continues:
            _, name, text = entries[-1]
            entries[-1] = ("setting", name, f"{text} {comment}".strip())
        elif comment_only and column == 0 and comment.strip("-"):
            headings.append(("group", comment))
            continues = False
        elif line.strip():  # code, or a ruler: the headings above head no setting
            headings, continues = [], False
    return None


def help_text(namespace, settings, rules):
    doc = (namespace.get("__doc__") or "").strip()
    lines = ([doc, ""] if doc else []) + ["Settings (default first; override with a config file and/or --key=value):"]
    written = settings_in_file(namespace["__file__"]) if namespace.get("__file__") else None
    entries = [entry for entry in written or [] if entry[0] == "group" or entry[1] in settings]
    described = {entry[1] for entry in entries if entry[0] == "setting"}
    entries += [("setting", name, "") for name in settings if name not in described]
    for entry in entries:
        if entry[0] == "group":
            lines += ["", f"  # {entry[1]}"]
            continue
        _, name, comment = entry
        rule = rules.get(name)
        explained = " ".join(part for part in (comment, f"[{rule.text}]" if rule else "") if part)
        left = f"  --{name}={_show(namespace[name])}"
        lines.append(f"{left:<34} {explained}".rstrip())
    if any(isinstance(namespace[name], (list, tuple)) for name in settings):
        lines += ["", "List settings take several values: --key=a b c, or --key=a --key=b."]
    return "\n".join(lines)


# -----------------------------------------------------------------------------------------------------------

def configure(namespace, argv, rules=None):
    """Apply config files and --key=value overrides from argv to the settings in `namespace` (a module's
    globals()), in place, then check `rules` ({setting: Rule}; a list setting's rule applies to each item).
    Returns {setting: value} of every setting, for logging into checkpoints."""
    rules = rules or {}
    settings = [name for name, value in namespace.items() if _is_setting(name, value)]
    if "--help" in argv or "-h" in argv:
        try:
            print(help_text(namespace, settings, rules), flush=True)
        except BrokenPipeError:  # `--help | head`: the reader left; say nothing more (Python's own advice)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)
    given_on_command_line = set()
    last_list_key = None
    for arg in argv:
        if arg.startswith("--"):
            key, sep, text = arg[2:].partition("=")
            key = key.replace("-", "_")
            if key not in settings:
                raise _unknown(key, settings)
            default = namespace[key]
            if not sep:
                if isinstance(default, bool):
                    text = "true"
                else:
                    raise ConfigError(f"--{key} needs a value: --{key}=...")
            if isinstance(default, (list, tuple)):
                earlier = list(default) if key in given_on_command_line else []
                namespace[key] = earlier + ([_parse_value(key, text, _item_default(default))] if text else [])
                last_list_key = key
            else:
                namespace[key] = _parse_value(key, text, default)
                last_list_key = None
            given_on_command_line.add(key)
        elif last_list_key is not None:
            items = namespace[last_list_key]
            namespace[last_list_key] = list(items) + [_parse_value(last_list_key, arg, _item_default(items))]
        elif arg.endswith(".py"):
            _apply_config_file(arg, namespace, settings)
        else:
            raise ConfigError(f"unexpected argument {arg!r}: use --key=value or a config file ending in .py")
    for key, rule in rules.items():
        values = namespace[key] if isinstance(namespace[key], (list, tuple)) else [namespace[key]]
        for value in values:
            problem = rule.problem(value)
            if problem:
                raise ConfigError(f"--{key}={_show(value)}: {problem}")
    return {k: namespace[k] for k in settings}


# -----------------------------------------------------------------------------------------------------------
# machine errors: a message instead of a traceback, for a script that sets sys.excepthook = explain_machine_errors

_MACHINE_ERRORS = {errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
                   errno.EDQUOT: "the disk quota is exceeded: free some space, or write somewhere else",
                   errno.EACCES: "no permission: choose a place you can write to, or fix the permissions",
                   errno.EPERM: "no permission: choose a place you can write to, or fix the permissions",
                   errno.EROFS: "the file system is read-only: write somewhere else",
                   errno.EISDIR: "that is a folder, where a file was expected",
                   errno.ENOTDIR: "part of that path is a file, where a folder was expected",
                   errno.EEXIST: "that path already exists as a file: choose another name",
                   errno.ENOENT: "no such file or folder",
                   errno.EIO: "the disk reported an input/output error"}


def explain_machine_errors(kind, error, traceback):
    """An excepthook: an error of the machine (a full disk, no permission, ...) ends the script with one line
    that says what to do; anything else, a bug, keeps its traceback."""
    if isinstance(error, OSError) and error.errno in _MACHINE_ERRORS:
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: {error.strerror}{where}: {_MACHINE_ERRORS[error.errno]}", file=sys.stderr)
        return
    sys.__excepthook__(kind, error, traceback)
