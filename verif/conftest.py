"""Shared pytest wiring: simulator selection, the ``--full`` sweep switch and logged seeds."""

from __future__ import annotations

import random

import pytest

from verif.lib.simulators import simulators_under_test


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run the long sweeps in full (make sim-full)")
    parser.addoption("--seed", type=int, default=None,
                     help="base seed for randomised tests (default: a fresh one, logged)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fast_suite_on(simulator): in the fast suite the test runs under that "
        "simulator only (when present); its runs under the others are marked slow, so "
        "make sim runs them")


def pytest_generate_tests(metafunc):
    if "simulator" in metafunc.fixturenames:
        present = simulators_under_test()
        marker = metafunc.definition.get_closest_marker("fast_suite_on")
        if marker and len(marker.args) != 1:
            raise TypeError(f"{metafunc.definition.nodeid}: fast_suite_on takes one "
                            f"simulator name, not {marker.args!r}")
        fast = marker.args[0] if marker and marker.args[0] in present else None
        metafunc.parametrize("simulator", [
            pytest.param(sim, marks=pytest.mark.slow) if fast and sim != fast else sim
            for sim in present])


@pytest.fixture
def full(request) -> bool:
    """True under ``--full``: sweeps that are sampled in the fast suite run completely."""
    return request.config.getoption("--full")


@pytest.fixture
def seed(request) -> int:
    """A seed for one randomised test, printed so a failure can be replayed with --seed."""
    base = request.config.getoption("--seed")
    value = base if base is not None else random.SystemRandom().randrange(1, 2 ** 31)
    print(f"seed={value} (replay: pytest --seed {value} '{request.node.nodeid}')")
    return value
