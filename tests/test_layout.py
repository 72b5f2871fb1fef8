"""The project's layout: dependencies point one way (bench/ and tests/ may import the package and the scripts'
modules, nothing imports bench/), and data/ holds data, the programs that make or check it live in tools/."""
import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_FOLDERS = {".git", "out", "__pycache__", ".venv", "node_modules", ".pytest_cache"}


def python_files():
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders if s not in SKIPPED_FOLDERS and not s.startswith(".")]
        yield from (Path(folder) / f for f in files if f.endswith(".py"))


def imported_modules(path):
    """The top-level names of the modules a Python file imports, anywhere in it (a function's import too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_nothing_outside_bench_and_tests_imports_bench():
    importers = [path.relative_to(ROOT).as_posix() for path in python_files()
                 if path.relative_to(ROOT).parts[0] not in ("bench", "tests") and "bench" in imported_modules(path)]
    assert not importers, (f"{', '.join(importers)} import bench/: what the package and the scripts need belongs "
                           "in wuxia/ (bench/ may import wuxia/, never the reverse)")


def test_the_import_check_sees_an_import_inside_a_function(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import os\n\ndef speed():\n    from bench.common import si\n    return si(1)\n", encoding="utf-8")
    assert imported_modules(script) == {"os", "bench"}


def test_data_holds_data_and_tools_the_programs_that_make_it():
    programs = [path.relative_to(ROOT).as_posix() for path in python_files()
                if path.relative_to(ROOT).parts[0] == "data"]
    assert not programs, f"{', '.join(programs)} in data/: a program that makes or checks a data set goes in tools/"
