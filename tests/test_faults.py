"""Faults while writing (issue 25): a full disk during a record or checkpoint write, and a process
killed in the middle of a write. Each leaves the previous file whole, never a half file that a
later run would read, and says which file failed."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from marsutils.core.atomic import atomic_write, read_json, write_json
from marsutils.train.checkpoint import load_checkpoint, save_checkpoint


def _temporaries(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_during_a_record_write_names_the_file_and_keeps_the_old_one(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"macro_f1": 0.9})

    def full_disk(tmp):
        tmp.write_text('{"macro_f1": 0.')  # half written when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"no space left to write .*metrics\.json.*intact") as err:
        atomic_write(path, full_disk)
    assert err.value.errno == errno.ENOSPC
    assert read_json(path) == {"macro_f1": 0.9}
    assert _temporaries(tmp_path) == []


def test_a_full_disk_during_a_checkpoint_write_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """``torch.save`` into a full file system (``/dev/full`` gives ENOSPC on every write) raises
    an obscure "unexpected pos" RuntimeError: the error now names the checkpoint, the previous
    checkpoint still loads, and no temporary file is left."""
    if not os.path.exists("/dev/full"):
        pytest.skip("this system has no /dev/full")
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1, "weights": torch.ones(3)})
    real_save = torch.save

    def save_to_full_disk(state, _tmp):
        real_save(state, "/dev/full")

    monkeypatch.setattr("marsutils.train.checkpoint.torch.save", save_to_full_disk)
    with pytest.raises(RuntimeError, match=r"writing .*last\.pt failed .*intact"):
        save_checkpoint(path, {"epoch": 2, "weights": torch.zeros(30_000)})
    assert load_checkpoint(path)["epoch"] == 1
    assert _temporaries(tmp_path) == []


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from marsutils.core.atomic import atomic_write

    def slow(tmp):
        with open(tmp, "w") as handle:
            handle.write('{"epoch": ')
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)  # killed here, half written
            handle.write("2}")

    atomic_write(sys.argv[1], slow)
    """
)


def test_a_process_killed_mid_write_leaves_the_previous_file_whole(tmp_path):
    """SIGKILL (the out-of-memory killer, a cancelled job) runs no clean-up: the half-written
    temporary stays behind under its hidden temporary name, and the record keeps its previous
    content, which the next run reads."""
    path = write_json(tmp_path / "done.json", {"epoch": 1})
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_json(path) == {"epoch": 1}
    left = _temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".done.json.")  # never read as a record


def test_a_kernel_killed_mid_chapter_stops_the_pipeline_naming_the_chapter(tmp_path, monkeypatch):
    """A chapter's kernel killed (the out-of-memory killer, papermill issues #125 and #476) raised
    nbclient's DeadKernelError as a traceback. The pipeline now stops with a message that names
    the chapter, the likely cause and how to execute that chapter only."""
    import nbformat

    from marsutils.book import pipeline

    book = tmp_path / "notebooks"
    book.mkdir()
    params = nbformat.v4.new_code_cell(
        'profile = "smoke"\nrun_dir = None\n', metadata={"tags": ["parameters"]}
    )
    for name, body in (("01_data", "x = 1"), ("02_training", "import os\nos.kill(os.getpid(), 9)")):
        nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(nb, book / f"{name}.ipynb")
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", book)
    monkeypatch.setattr(pipeline, "NOTEBOOKS", ("01_data", "02_training"))
    with pytest.raises(
        pipeline.PipelineError, match="notebook 02_training: its kernel died"
    ) as err:
        pipeline.execute_notebooks("smoke", tmp_path / "run", progress=False)
    assert "out-of-memory killer" in str(err.value) and "--only 02" in str(err.value)
    assert (tmp_path / "run" / "notebooks" / "01_data.ipynb").is_file()  # earlier chapters kept


def _tiny_book(folder, words: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_config.yml").write_text("title: Tiny\nexecute:\n  execute_notebooks: 'off'\n")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (folder / "intro.md").write_text(f"# Tiny book\n\n{words}\n")
    return folder


KILLED_BUILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from marsutils.book.pipeline import build_book

    build_book(Path(sys.argv[1]), output=Path(sys.argv[2]))
    """
)


@pytest.mark.slow
def test_a_book_build_killed_midway_leaves_the_previous_book_whole(tmp_path):
    """SIGKILL of the build (and of its jupyter-book process) used to leave a half-written
    ``_build/html`` in place. The book is now built aside and swapped in: the killed build
    leaves the previous book readable, and the next build replaces it and cleans up."""
    from marsutils.book.pipeline import build_book

    output = tmp_path / "out"
    index = build_book(_tiny_book(tmp_path / "v1", "first edition"), output=output)
    page = index.with_name("intro.html")
    assert "first edition" in page.read_text()
    staging = _tiny_book(tmp_path / "v2", "second edition")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(staging), str(output)], start_new_session=True
    )
    partial = output / f".build-{proc.pid}"
    for _ in range(600):  # until the build has started writing aside
        if partial.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build ended before the test could kill it"
    os.killpg(proc.pid, signal.SIGKILL)  # the build and its jupyter-book child
    proc.wait()
    assert "first edition" in page.read_text()  # the previous book, whole
    assert partial.exists()  # a killed process cleans nothing up
    again = build_book(staging, output=output)
    assert again == index and "second edition" in page.read_text()
    assert sorted(p.name for p in output.iterdir()) == ["_build"]  # partial folders removed


KILLED_CACHE_WRITER = textwrap.dedent(
    """
    import sys, time
    import marsutils.data.imagecache as imagecache
    from marsutils.data import load_dataset

    real = imagecache.decode_image
    calls = []

    def slow_decode(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            print("decoding", flush=True)
            time.sleep(60)  # killed here, with the cache file half written
        return real(*args, **kwargs)

    imagecache.decode_image = slow_decode
    imagecache.load_images(load_dataset(sys.argv[1]), progress=False)
    """
)


def test_a_process_killed_while_writing_the_image_cache_leaves_no_entry(
    make_sample_layout, isolated_cache
):
    """The image cache is written under a temporary name and renamed when whole: a process
    killed mid-write leaves no cache entry, so the next run decodes again (the same pixels), and
    the dead process's temporary (hundreds of MB for the full sample) is removed."""
    import numpy as np

    from marsutils.data import load_dataset
    from marsutils.data.imagecache import decode_image, load_images

    root = make_sample_layout(n_per_class=3)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_CACHE_WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "decoding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = sorted(p.name for p in isolated_cache.iterdir())
    assert len(left) == 1 and f".tmp{proc.pid}." in left[0]  # only the dead one's temporary
    dataset = load_dataset(root)
    images = load_images(dataset, progress=False)
    expected = np.stack([decode_image(dataset.path(i)) for i in range(len(dataset))])
    assert np.array_equal(images, expected)
    names = sorted(p.name for p in isolated_cache.iterdir())
    assert len(names) == 1 and ".tmp" not in names[0]


TOY_TRAINING = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd, torch
    from marsutils.train import FitConfig, fit, seed_everything

    def toy():
        rng = np.random.default_rng(0)
        labels = np.arange(96) % 3
        images = (rng.integers(0, 60, (96, 227, 227)) + 80 * labels[:, None, None])
        subset = np.array(["train"] * 60 + ["val"] * 18 + ["test"] * 18)
        split = pd.DataFrame({"row": np.arange(96), "image": [f"{i}.jpg" for i in range(96)],
                              "label": labels, "subset": subset})
        return images.astype(np.uint8), split

    def tiny_model():
        seed_everything(0)
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3))

    CONFIG = FitConfig(epochs=3, batch_size=12, image_size=32, num_workers=0, patience=5,
                       lr=3e-3)

    if __name__ == "__main__":
        import marsutils.train.checkpoint as checkpoint
        real_save, saves = checkpoint.torch.save, []

        def save_then_hang(state, tmp):
            if str(tmp.name).startswith(".checkpoint.pt."):
                saves.append(1)
                if len(saves) == 2:  # epoch 2's checkpoint: half written, then killed
                    tmp.write_bytes(b"PK\\x03\\x04 half a checkpoint")
                    print("saving", flush=True)
                    time.sleep(60)
            real_save(state, tmp)

        checkpoint.torch.save = save_then_hang
        torch.set_num_threads(1)
        images, split = toy()
        fit(tiny_model(), images, split, CONFIG, sys.argv[1], progress=False)
    """
)


def test_a_training_killed_while_saving_its_checkpoint_resumes_to_the_same_result(
    tmp_path, monkeypatch
):
    """SIGKILL in the middle of epoch 2's ``checkpoint.pt`` write: the half file stays under its
    temporary name, the epoch-1 checkpoint is whole, and the next run resumes from epoch 1 to
    the weights, learning curve and predictions of an uninterrupted run."""
    import importlib.util

    from marsutils.train import fit
    from marsutils.train.runtime import torch_threads

    monkeypatch.setenv("MARS_PRECISION", "fp32")
    script = tmp_path / "toy_training.py"
    script.write_text(TOY_TRAINING)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "killed")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "saving"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = tmp_path / "killed"
    assert load_checkpoint(killed / "checkpoint.pt")["epoch"] == 1
    assert len(_temporaries(killed)) == 1 and not (killed / "done.json").exists()
    spec = importlib.util.spec_from_file_location("toy_training", script)
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    images, split = toy.toy()
    with torch_threads(1):
        straight_model = toy.tiny_model()
        straight = fit(straight_model, images, split, toy.CONFIG, tmp_path / "a", progress=False)
        resumed_model = toy.tiny_model()
        resumed = fit(resumed_model, images, split, toy.CONFIG, killed, progress=False)
    assert resumed.resumed_from_epoch == 1
    for (name, a), b in zip(
        straight_model.state_dict().items(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert straight.test_predictions.equals(resumed.test_predictions)
    assert [h["val_macro_f1"] for h in straight.history] == [
        h["val_macro_f1"] for h in resumed.history
    ]
