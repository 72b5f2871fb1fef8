"""One definition of the decoding defaults (wuxia/generate.DECODING): every script that generates takes its
defaults from it, so what eval_rouge.py measures is what a user of sample.py or the chat page gets."""
import ast
import glob
import os

from conftest import ROOT
from wuxia.generate import DECODING

GENERATING_SCRIPTS = ["sample.py", "chat_web.py", "eval_rouge.py", "serve.py", "answer.py"]


def module_assignments(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_every_generating_script_takes_its_defaults_from_decoding():
    checked = 0
    for script in GENERATING_SCRIPTS:
        path = os.path.join(ROOT, script)
        if not os.path.isfile(path):
            continue
        assignments = module_assignments(path)
        for key in DECODING:
            if key not in assignments:
                continue
            value = assignments[key]
            assert isinstance(value, ast.Subscript) and ast.unparse(value) == f"DECODING['{key}']", \
                f"{script}: {key} = {ast.unparse(value)} should be DECODING[{key!r}]"
            checked += 1
    assert checked >= 3 * len(DECODING)  # sample.py, chat_web.py and eval_rouge.py at least


def test_no_other_module_writes_a_decoding_default_of_its_own():
    for path in glob.glob(os.path.join(ROOT, "*.py")) + glob.glob(os.path.join(ROOT, "wuxia", "*.py")):
        for name, value in module_assignments(path).items():
            if name in DECODING:
                assert not isinstance(value, ast.Constant), f"{os.path.relpath(path, ROOT)}: {name} = {value.value}"


def test_chat_page_starts_from_the_same_defaults():
    from wuxia import chat_page
    import inspect
    source = inspect.getsource(chat_page.build_page)
    assert "DECODING" in source and "temperature=0.8" not in source
