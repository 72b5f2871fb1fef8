"""One configurator for every script (nanoGPT's idea, without exec'ing into globals behind your back).

A script lists its settings as module-level variables, then calls

    config = configure(globals(), sys.argv[1:])

Arguments are applied left to right:
  - `path/to/file.py`  runs the file and takes the settings it assigns (a config file);
  - `--key=value`      sets one setting; the value is parsed as a Python literal when it looks like one
                       and must have the type of the default (an int default accepts 3, a float 3 or 3e-4);
  - bare words after a list setting (`--input=a.txt b.txt c/`) are appended to that list, so a shell glob
    works.
An unknown key is an error that lists the valid ones.
"""
import ast
import os


class ConfigError(SystemExit):
    """Raised for bad command lines; a SystemExit so scripts end with the message, not a traceback."""


def _is_setting(name, value):
    return not name.startswith("_") and isinstance(value, (bool, int, float, str, list, tuple, type(None)))


def _parse_value(key, text, default):
    if isinstance(default, str) or default is None:
        # strings are taken verbatim, so --start=你好 and --out_dir=out/x need no quoting
        try:
            value = ast.literal_eval(text) if default is None else text
        except (ValueError, SyntaxError):
            value = text
        return value
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{key} expects true or false, got {text!r}")
    if isinstance(default, (list, tuple)):
        return [text]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(f"--{key} expects a {type(default).__name__}, got {text!r}")
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not type(default):
        raise ConfigError(f"--{key} expects a {type(default).__name__}, got {text!r}")
    return value


def _unknown(key, settings):
    valid = ", ".join(sorted(settings))
    return ConfigError(f"unknown setting {key!r}. Valid settings are: {valid}")


def configure(namespace, argv):
    """Apply config files and --key=value overrides from argv to the settings in `namespace` (a module's
    globals()), in place. Returns {setting: value} of every setting, for logging into checkpoints."""
    settings = [k for k, v in namespace.items() if _is_setting(k, v)]
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
            namespace[key] = _parse_value(key, text, default)
            last_list_key = key if isinstance(default, (list, tuple)) else None
        elif last_list_key is not None:
            namespace[last_list_key] = list(namespace[last_list_key]) + [arg]
        elif arg.endswith(".py"):
            if not os.path.isfile(arg):
                raise ConfigError(f"config file not found: {arg}")
            file_settings = {}
            with open(arg, encoding="utf-8") as f:
                exec(compile(f.read(), arg, "exec"), {}, file_settings)
            for key, value in file_settings.items():
                if key.startswith("_") or callable(value) or type(value).__name__ == "module":
                    continue
                if key not in settings:
                    raise ConfigError(f"{arg}: unknown setting {key!r}. Valid settings are: "
                                      + ", ".join(sorted(settings)))
                namespace[key] = value
        else:
            raise ConfigError(f"unexpected argument {arg!r}: use --key=value or a config file ending in .py")
    return {k: namespace[k] for k in settings}
