from __future__ import annotations

from stockade import policy
from stockade.core.errors import EXIT_INPUT, StockadeError
from stockade.policy import errors


def test_public_names_are_exported() -> None:
    for name in policy.__all__:
        assert hasattr(policy, name), name
    public_errors = {n for n in dir(errors) if n.endswith("Error")} - {"StockadeError"}
    assert public_errors <= set(policy.__all__)


def test_errors_are_input_errors() -> None:
    assert issubclass(policy.PolicyError, StockadeError)
    assert issubclass(policy.IgnoreFileError, policy.PolicyError)
    assert issubclass(policy.VexError, policy.PolicyError)
    assert policy.IgnoreFileError("x", source="f").exit_code == EXIT_INPUT
