"""wuxia/dataset.py: names resolved one way, a dataset written whole (and nothing left by a failure), the
one check that SFT rows fit the model's context."""
import json
import os

import numpy as np
import pytest

from wuxia.dataset import check_rows_fit, dataset_dir, load_meta, write_dataset


def test_names_and_paths_resolve_the_same_way_for_every_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset_dir("jinyong") == os.path.join("data", "jinyong")
    assert dataset_dir("data/jinyong") == os.path.join("data", "jinyong")  # as --pretrain_data used to be given
    assert dataset_dir("/tmp/x/") == "/tmp/x"
    (tmp_path / "here").mkdir()
    assert dataset_dir("here") == "here"  # an existing folder is itself


def write_meta(kind):
    def write(folder):
        np.arange(10, dtype=np.uint16).tofile(os.path.join(folder, "train.bin"))
        np.arange(5, dtype=np.uint16).tofile(os.path.join(folder, "val.bin"))
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump({"kind": kind, "dtype": "uint16"}, f)
    return write


def test_a_new_dataset_replaces_every_dataset_file_and_keeps_the_rest(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("train.jsonl", "val.jsonl", "train_spans.npy", "val_spans.npy", "meta.json", "qa.jsonl"):
        (folder / name).write_text("old")
    (folder / "raw").mkdir()
    write_dataset(str(folder), write_meta("pretrain"))
    assert sorted(os.listdir(folder)) == ["meta.json", "qa.jsonl", "raw", "train.bin", "val.bin"]
    assert load_meta(str(folder))["kind"] == "pretrain"


def test_a_failed_write_leaves_the_earlier_dataset_and_no_temporary_files(tmp_path):
    folder = tmp_path / "d"
    write_dataset(str(folder), write_meta("pretrain"))
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}

    def fails_half_way(tmp):
        write_meta("sft")(tmp)
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        write_dataset(str(folder), fails_half_way)
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    with pytest.raises(KeyboardInterrupt):
        write_dataset(str(tmp_path / "new" / "deeper"), lambda tmp: (_ for _ in ()).throw(KeyboardInterrupt))
    assert not (tmp_path / "new").exists()  # the folders this call created go again


def test_damaged_meta_is_a_message(tmp_path):
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(SystemExit, match="meta.json is damaged"):
        load_meta(str(tmp_path))
    (tmp_path / "meta.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match="is not the meta.json of a wuxia-gpt dataset"):
        load_meta(str(tmp_path))


def test_rows_fit_a_context_one_shorter():
    """A row of N tokens trains on N - 1 inputs: rows of 65 fit a context of 64, rows of 66 do not."""
    check_rows_fit({"kind": "sft", "block_size": 65}, 64, "data/sft", "out/pre")
    check_rows_fit({"kind": "pretrain"}, 64, "data/x", "out/pre")
    with pytest.raises(SystemExit, match="rows of 66 tokens but the model in out/pre has a context of 64: re-run "
                                         "prepare_sft.py with --block_size=64"):
        check_rows_fit({"kind": "sft", "block_size": 66}, 64, "data/sft", "out/pre")
