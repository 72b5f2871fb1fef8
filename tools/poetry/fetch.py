"""Fetch the chinese-poetry collection (MIT licence, public-domain texts) and write the demo corpus and its QA.

    python tools/poetry/fetch.py                                    # npm pack chinese-poetry@2.0.1 when missing
    python tools/poetry/fetch.py --tarball=chinese-poetry-2.0.1.tgz  # a tarball fetched by hand: no network

Writes data/poetry/raw/<collection>.txt (pretraining text, one file per collection, UTF-8) and
data/poetry/qa_train.jsonl, qa_val.jsonl (generated questions about the poems of qa_collections; the val
questions are about poems whose QA never appears in train, though all poems are in the pretraining text).
Each QA line is {"question", "answer", "kind", "author", "titles"}: the last three say what it is about.
Then, for example:

    python prepare.py --dataset=poetry --tokenizer=char          # reads data/poetry/raw/
    python prepare_sft.py --dataset=sft_poetry --pretrain_data=data/poetry \
        --input=data/poetry/qa_train.jsonl --val_input=data/poetry/qa_val.jsonl

The QA files are not written into data/sft_poetry/ because prepare_sft.py replaces that whole folder.
"""
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # to import wuxia/
import poetry  # noqa: E402  tools/poetry/poetry.py, beside this script
from wuxia.configurator import AT_LEAST_0, FRACTION, configure, explain_machine_errors  # noqa: E402
from wuxia.jsonl import write_jsonl  # noqa: E402

# -----------------------------------------------------------------------------
tarball = ""  # path to chinese-poetry-2.0.1.tgz; "" = data/poetry/npm/, fetched there with npm pack when missing
collections = ["tangshi300", "qianjiashi", "songci300", "shijing", "chuci", "lunyu", "mengzi", "guwenguanzhi"]
qa_collections = ["tangshi300", "qianjiashi", "songci300"]  # the poems the questions are about
extra_tang_chars = 250_000  # characters of more 全唐诗 poems by the poets above (0 = none)
val_fraction = 0.1  # fraction of the QA poems whose questions go to qa_val.jsonl
seed = 1337
raw_dir = "data/poetry/raw"  # both relative to the repository root
qa_dir = "data/poetry"
# -----------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
config = configure(globals(), sys.argv[1:], rules={"extra_tang_chars": AT_LEAST_0, "val_fraction": FRACTION})

repo_root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
npm_spec, npm_file = "chinese-poetry@2.0.1", "chinese-poetry-2.0.1.tgz"
started = time.time()

choosable = [key for key in poetry.COLLECTIONS if key != "quantangshi"]
unknown = [key for key in collections + qa_collections if key not in choosable]
if unknown:
    sys.exit(f"unknown collection(s) {unknown}; choose from {', '.join(choosable)} "
             "(全唐诗 comes in through --extra_tang_chars)")
missing_qa = [key for key in qa_collections if key not in collections]
if missing_qa:
    sys.exit(f"qa_collections {missing_qa} are not in collections: questions are only asked about poems that "
             "are in the pretraining text")


def fetch_with_npm(npm_dir):
    """npm pack the package into npm_dir; returns the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(f"npm is not installed, and it fetches {npm_spec}. Install Node.js with npm (Debian/Ubuntu: "
                 f"apt-get install npm), or download https://registry.npmjs.org/chinese-poetry/-/{npm_file} "
                 f"by hand and run: python tools/poetry/fetch.py --tarball=path/to/{npm_file}")
    os.makedirs(npm_dir, exist_ok=True)
    print(f"fetching {npm_spec} (about 85 MB) with npm pack into {npm_dir} ...")
    result = subprocess.run([npm, "pack", npm_spec], cwd=npm_dir)
    path = os.path.join(npm_dir, npm_file)
    if result.returncode != 0 or not os.path.isfile(path):
        sys.exit(f"npm pack {npm_spec} failed (exit status {result.returncode}); download "
                 f"https://registry.npmjs.org/chinese-poetry/-/{npm_file} by hand and pass --tarball=path")
    return path


def read_package_json(path, patterns):
    """{pattern: [(name, loaded JSON) of each file under package/dist/ that matches, in name order]}, reading
    the tarball once and only the files asked for."""
    found = {pattern: {} for pattern in patterns}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or not name.startswith("package/dist/"):
                    continue
                for pattern in patterns:
                    if fnmatch.fnmatch(name[len("package/dist/"):], pattern):
                        try:
                            found[pattern][name] = json.load(tar.extractfile(member))
                        except (json.JSONDecodeError, UnicodeDecodeError) as error:
                            sys.exit(f"{path}: {name} is not valid JSON ({error}); is the tarball damaged?")
    except (tarfile.TarError, OSError, EOFError) as error:
        sys.exit(f"cannot read {path} as a tarball ({error}); delete it and fetch it again")
    for pattern, docs in found.items():
        if not docs:
            sys.exit(f"{path} has no package/dist/{pattern}: is it {npm_spec}?")
    return {pattern: sorted(docs.items()) for pattern, docs in found.items()}


# find the tarball, or fetch it
if tarball:
    if not os.path.isfile(tarball):
        sys.exit(f"--tarball={tarball}: no such file")
else:
    npm_dir = os.path.join(repo_root, "data", "poetry", "npm")
    tarball = os.path.join(npm_dir, npm_file)
    if not os.path.isfile(tarball):
        tarball = fetch_with_npm(npm_dir)

# read the collections' JSON files and parse each collection into records in simplified characters
keys = collections + (["quantangshi"] if extra_tang_chars > 0 else [])
print(f"reading {tarball} ...")
docs = read_package_json(tarball, [pattern for key in keys for pattern in poetry.COLLECTIONS[key]["files"]])
poems = {}
for key in keys:
    named_docs = [named for pattern in poetry.COLLECTIONS[key]["files"] for named in docs[pattern]]
    try:
        poems[key] = poetry.load_collection(key, [doc for _, doc in named_docs])
    except (KeyError, TypeError, AttributeError) as error:
        sys.exit(f"{tarball}: {', '.join(name for name, _ in named_docs)} do not have the JSON layout "
                 f"poetry.py expects for {key} ({type(error).__name__}: {error}); is it {npm_spec}?")
corpus = [poem for key in collections for poem in poems[key]]
if extra_tang_chars > 0:
    poets = {poem["author"] for poem in corpus if poem["author"]}
    poems["quantangshi"] = poetry.select_extra_poems(poems["quantangshi"], poets, corpus, extra_tang_chars, seed)
    corpus += poems["quantangshi"]

# pretraining text, one file per collection. A .txt left from an earlier run with other collections is
# removed: prepare.py would read it too.
raw_path = os.path.join(repo_root, raw_dir)
os.makedirs(raw_path, exist_ok=True)
for name in sorted(os.listdir(raw_path)):
    if name.endswith(".txt") and name.removesuffix(".txt") not in keys:
        print(f"removing {os.path.join(raw_dir, name)} (not among this run's collections)")
        os.remove(os.path.join(raw_path, name))
chars = {}
for key in keys:
    text = poetry.render_collection(poems[key])
    chars[key] = len(text)
    with open(os.path.join(raw_path, f"{key}.txt"), "w", encoding="utf-8") as f:
        f.write(text)

# QA about the poems of qa_collections, answers checked against the whole corpus, split by poem
qa_poems = [poem for key in qa_collections for poem in poems[key]]
train_records, val_records = poetry.make_qa(qa_poems, corpus, val_fraction, seed)
qa_path = os.path.join(repo_root, qa_dir)
os.makedirs(qa_path, exist_ok=True)
for split, records in (("train", train_records), ("val", val_records)):
    write_jsonl(os.path.join(qa_path, f"qa_{split}.jsonl"), records)

# summary
print(f"\n{'collection':<14}{'poems':>7}{'chars':>9}  file")
for key in keys:
    name = poetry.COLLECTIONS[key]["name"] + ("(选)" if key == "quantangshi" else "")
    print(f"{key:<14}{len(poems[key]):>7}{chars[key]:>9}  {os.path.join(raw_dir, key + '.txt')}  {name}")
print(f"{'total':<14}{len(corpus):>7}{sum(chars.values()):>9}  characters of pretraining text")
kinds = list(poetry.POEM_QA) + ["works"]
print(f"\nQA about {len(poetry.dedupe_poems(qa_poems))} poems of {', '.join(qa_collections)} (a poem printed in "
      f"two collections counts once); titles = distinct (title, author) asked about")
print(f"{'split':<6}{'titles':>7}{'records':>8}" + "".join(f"{kind:>11}" for kind in kinds))
for split, records in (("train", train_records), ("val", val_records)):
    titles = {(record["author"], title) for record in records for title in record["titles"]}
    counts = "".join(f"{sum(record['kind'] == kind for record in records):>11}" for kind in kinds)
    print(f"{split:<6}{len(titles):>7}{len(records):>8}{counts}  {os.path.join(qa_dir, f'qa_{split}.jsonl')}")
corpus_chars = set("".join(poetry.render_collection(poems[key]) for key in keys))
unknown_chars = sorted({char for record in train_records + val_records
                        for char in record["question"] + record["answer"] if char not in corpus_chars})
if unknown_chars:
    print(f"warning: the QA uses characters the pretraining text lacks (a char tokenizer makes them <unk>): "
          f"{''.join(unknown_chars)}")
print(f"\ndone in {time.time() - started:.1f}s")
