"""Shared by the learning API tests: the app reads its modules from a folder holding the test
module (page, video, quiz). Suites take it with `pytest.mark.usefixtures("test_module_dir")`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from signalling.context import Services
from tests.learning.modules import write_module


@pytest.fixture
def test_module_dir(services: Services, tmp_path: Path) -> Path:
    root = tmp_path / "modules"
    write_module(root / "test-module")
    services.settings = dataclasses.replace(services.settings, learning_modules_dir=root)
    return root
