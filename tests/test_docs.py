"""The docs cannot drift from the code: every relative link, every script and every `--setting` that README.md
and docs/*.md name must exist.

- links: `[text](path)` and `![alt](path)` resolve from the page's folder; a `#anchor` must be a heading of
  the page it points to;
- scripts: every `name.py` must exist (a path with a folder exactly, from the project root; a bare name
  somewhere in the project). The dated log (docs/log.md) names a script where it stood on the entry's date:
  there a path whose script has moved since passes when its name is still somewhere in the project;
- settings: in code (fenced blocks and `inline code`), a `--key` after a script on the same command belongs to
  that script and must be one of its settings, as its --help reads them from its file
  (`wuxia.configurator.settings_in_file`). A `--key` with no script before it belongs to
  the scripts named in the same paragraph or in the section's headings (any script when none is named).

Reads text only: no model is loaded, so it runs in a second.
"""
import os
import re
from pathlib import Path

import pytest

from wuxia.configurator import settings_in_file

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
ALWAYS_VALID = {"help"}                  # every script answers --help (the configurator)
EXTERNAL_COMMANDS = {"torchrun", "pip", "curl", "npm", "apt-get", "git", "flock",
                     "llama-cli", "llama-server", "ollama"}  # their own --options
SKIPPED_FOLDERS = {".git", "out", "__pycache__", ".venv", "node_modules", ".pytest_cache"}
HISTORY = "log.md"                       # the dated experiment log: its entries name paths as they were

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SCRIPT = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")
OPTION = re.compile(r"(?<![\w-])--([A-Za-z_][\w-]*)")
INLINE_CODE = re.compile(r"`([^`]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text):
    seen, result = {}, set()
    for line in code_free_lines(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def code_free_lines(text):
    """The page's lines outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def project_basenames():
    names = set()
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders if s not in SKIPPED_FOLDERS and not s.startswith(".")]
        names.update(f for f in files if f.endswith(".py"))
    return names


_settings_cache = {}


def resolve(script):
    """A script's path from the project root: as written, or the one script with that name (bench_train.py
    is bench/bench_train.py)."""
    if (ROOT / script).is_file():
        return script
    same_name = [s for s in all_scripts() if s.rsplit("/", 1)[-1] == script]
    return same_name[0] if len(same_name) == 1 else script


def settings_of(script):
    """The settings of a script (a set), or None when it calls no configure() (a module, a missing file)."""
    if script not in _settings_cache:
        section = settings_in_file(str(ROOT / resolve(script)))
        _settings_cache[script] = None if section is None else {e[1] for e in section if e[0] == "setting"}
    return _settings_cache[script]


def is_config_file(script):
    return script.startswith("config/")


def blocks(text):
    """The page as (heading scripts, paragraph text, [code segments]) blocks. A code segment is one command:
    a line of a fenced block (joined with the next when it ends in a backslash) or one inline code span."""
    headings = {}                      # level -> the scripts its heading names
    paragraph, prose, segments, fenced, pending = [], [], [], False, ""
    result = []

    def flush():
        segments.extend(INLINE_CODE.findall(" ".join(prose)))   # a code span may run over a line break
        if paragraph or segments:
            scripts = [s for level in sorted(headings) for s in headings[level]]
            result.append((scripts, "\n".join(paragraph), list(segments)))
        paragraph.clear()
        prose.clear()
        segments.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if fenced and pending:
                segments.append(pending)
                pending = ""
            fenced = not fenced
            paragraph.append(line)
            continue
        if fenced:
            paragraph.append(line)
            joined = pending + " " + line
            if line.rstrip().endswith("\\"):
                pending = joined.rstrip().rstrip("\\")
            else:
                segments.append(joined.strip())
                pending = ""
            continue
        match = HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = SCRIPT.findall(match.group(2))
            continue
        if not line.strip():
            flush()
            continue
        paragraph.append(line)
        prose.append(line)
    flush()
    return result


def link_problems(page, text):
    problems = []
    for line in code_free_lines(text):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):          # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                problems.append(f"{page.name}: link to {target}: {path} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{page.name}: link to {target}: no heading #{anchor} in {linked.name}")
    return problems


def script_problems(page, text, basenames):
    problems = []
    for script in sorted(set(SCRIPT.findall(text))):
        if "/" in script and page.name != HISTORY:
            exists = (ROOT / script).is_file()
        else:
            exists = script.rsplit("/", 1)[-1] in basenames
        if not exists:
            problems.append(f"{page.name}: names {script}, which does not exist")
    return problems


def setting_problems(page, text):
    problems = []
    for heading_scripts, paragraph, segments in blocks(text):
        named = [s for s in heading_scripts + SCRIPT.findall(paragraph) if settings_of(s) is not None]
        for segment in segments:
            words = segment.split()
            external = bool(words) and (words[0] in EXTERNAL_COMMANDS or words[:2] == ["python", "-m"])
            events = sorted([(m.start(), "script", m.group(1)) for m in SCRIPT.finditer(segment)] +
                            [(m.start(), "option", m.group(1)) for m in OPTION.finditer(segment)])
            current = None
            for _, kind, name in events:
                if kind == "script":
                    if not is_config_file(name):
                        current = name
                    continue
                key = name.split("=")[0].replace("-", "_")
                if key in ALWAYS_VALID:
                    continue
                if current is not None:
                    owners = [current]
                elif external:
                    continue
                else:
                    owners = named or all_scripts()
                known = set().union(*[settings_of(s) or set() for s in owners])
                if key not in known:
                    problems.append(f"{page.name}: `{segment}`: --{key} is not a setting of "
                                    f"{' or '.join(sorted(set(owners)))}")
    return problems


def all_scripts():
    found = [p.relative_to(ROOT).as_posix() for pattern in ("*.py", "bench/*.py", "tools/*/*.py", "docs/*.py")
             for p in ROOT.glob(pattern)]
    return [s for s in found if not s.startswith("tests/")]


def problems_of(page):
    text = page.read_text(encoding="utf-8")
    return link_problems(page, text) + script_problems(page, text, project_basenames()) + \
        setting_problems(page, text)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_names_only_what_exists(page):
    problems = problems_of(page)
    assert not problems, "the docs name things the code does not have:\n" + "\n".join(problems)


def test_readme_is_a_short_guide():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail into docs/ (at most 300)"


def test_the_checks_catch_drift(tmp_path):
    """A page with a missing link, an anchor that is no heading, a missing script and unknown settings is
    reported on each count; the same page with real names passes."""
    (tmp_path / "docs").mkdir()
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text("# Title\n\nSee [the log](missing.md), [here](#nowhere) and bench/bench_recipe.py.\n\n"
                   "```bash\npython train.py config/sft.py --learning_rat=1e-3\n```\n\n"
                   "## sample.py\n\n| `--no_such_setting` | x |\n", encoding="utf-8")
    found = problems_of(bad)
    assert any("missing.md does not exist" in p for p in found)
    assert any("#nowhere" in p for p in found)
    assert any("bench_recipe.py" in p for p in found)
    assert any("--learning_rat is not a setting of train.py" in p for p in found)
    assert any("--no_such_setting is not a setting of sample.py" in p for p in found)
    good = tmp_path / "docs" / "good.md"
    good.write_text("# Title\n\nSee [the title](#title) and [bad](bad.md) and bench/bench_train.py.\n\n"
                    "```bash\npython train.py config/sft.py --learning_rate=1e-3 \\\n    --max_iters=10\n"
                    "torchrun --standalone --nproc_per_node=2 train.py --batch_size=4\n```\n\n"
                    "## sample.py\n\n| `--temperature` | `--help` |\n", encoding="utf-8")
    assert problems_of(good) == []
    log = tmp_path / "docs" / "log.md"
    log.write_text("## 2026-01-01\n\n`python data/old_place/bench_train.py` and `data/old_place/bench_recipe.py`\n",
                   encoding="utf-8")
    assert [p for p in problems_of(log) if "names" in p] == ["log.md: names data/old_place/bench_recipe.py, which "
                                                             "does not exist"]
