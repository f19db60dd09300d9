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

import pytest
import torch

from marsutils.atomic import atomic_write, read_json, write_json
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
    from marsutils.atomic import atomic_write

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

    from marsutils import pipeline

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
