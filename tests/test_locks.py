"""Two writers on one experiment or one run folder (issue 25): one trains, the other waits or
stops, and every message names the holder; a lock left by a killed holder is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from marsutils.core.locks import LOCK_NAME, LockHeld, exclusive

HOLD = textwrap.dedent(
    """
    import sys, time
    from marsutils.core.locks import exclusive
    with exclusive(sys.argv[1], what="holding for a test"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
        open(sys.argv[1] + "/released", "w").close()  # the last thing done while holding
    """
)


def _holder(folder: Path, seconds: float) -> subprocess.Popen:
    """A process that holds ``folder``'s lock for ``seconds``, started when it says "held"."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_stops_or_waits_and_names_the_holder(tmp_path):
    proc = _holder(tmp_path, 3)
    try:
        held = rf"locked by pid {proc.pid} on host .*holding for a"
        with pytest.raises(LockHeld, match=held), exclusive(tmp_path, wait=False):
            pass
        said: list[str] = []
        with exclusive(tmp_path, announce=said.append):  # blocks until the holder is done
            assert (tmp_path / "released").exists(), "the lock was taken while its holder held it"
        assert len(said) == 1 and f"pid {proc.pid}" in said[0] and "waiting" in said[0]
    finally:
        proc.kill()
        proc.wait()
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: no holder record left


def test_a_lock_left_by_a_killed_holder_is_taken_over_with_a_message(tmp_path):
    proc = _holder(tmp_path, 60)
    os.kill(proc.pid, signal.SIGKILL)  # the out-of-memory killer, say: no clean-up runs
    proc.wait()
    said: list[str] = []
    with exclusive(tmp_path, wait=False, announce=said.append):  # not blocked: the kernel freed it
        pass
    assert len(said) == 1 and "taking over" in said[0] and f"pid {proc.pid}" in said[0]


def test_a_second_pipeline_on_one_run_folder_stops_naming_the_first(tmp_path, capsys):
    from marsutils.book.pipeline import main as pipeline_main

    with exclusive(tmp_path, what="python -m marsutils.book.pipeline --profile smoke"):
        code = pipeline_main(["--profile", "smoke", "--run-dir", str(tmp_path), "--no-build"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"is locked by pid {os.getpid()}" in err and "marsutils.book.pipeline" in err
    assert not (tmp_path / "experiments").exists(), "nothing may run beside the holder"


@pytest.mark.slow
def test_two_trainings_of_one_key_started_together_train_once(real_data_dir, tmp_path):
    """Two ``python -m marsutils train`` of one key in one run folder: one trains, the second
    prints who holds the lock, waits, and then loads the first one's result."""
    key = "family-cv2-f0/plain-efficientnet_lite0-imagenet-64px-1ep/seed0"
    argv = [sys.executable, "-m", "marsutils", "train", key, "--profile", "smoke",
            "--run-dir", str(tmp_path), "--data-dir", str(real_data_dir)]  # fmt: skip
    env = {**os.environ, "MARS_INTERACTIVE": "0"}
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env) for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    trained = [out for out in outputs if "epoch 1:" in out]
    waited = [out for out in outputs if "is locked by pid" in out]
    assert len(trained) == 1 and len(waited) == 1, outputs
    assert "waiting for it to finish" in waited[0] and "training family-cv2-f0/plain" in waited[0]
    assert len(list((tmp_path / "experiments").rglob("done.json"))) == 1
