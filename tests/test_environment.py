"""The run's machine and software record."""

import json

import torch

from marsutils.core.environment import environment_record, package_lock


def test_package_lock_lists_the_pinned_packages_with_their_versions():
    lock = package_lock()
    assert torch.__version__.startswith(lock["torch"])  # metadata drops the local "+cu130"
    assert "numpy" in {name.lower() for name in lock}
    assert list(lock) == sorted(lock, key=str.lower)


def test_environment_record_is_json_and_names_the_machine():
    record = environment_record()
    json.dumps(record)  # JSON-ready
    assert record["torch"] == torch.__version__
    assert record["torch_threads"] == torch.get_num_threads()
    assert isinstance(record["cpu_native_bf16"], bool)
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "packages" in record
    assert "packages" not in environment_record(include_packages=False)
