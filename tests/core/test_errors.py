from __future__ import annotations

import stockade
from stockade.core import errors


def test_every_error_is_a_stockade_error_with_an_exit_code() -> None:
    classes = [
        obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert classes
    for cls in classes:
        assert issubclass(cls, stockade.StockadeError)
        assert cls.exit_code in (1, 2, 3)


def test_diagnostics_carry_the_hint() -> None:
    err = errors.ArtifactError("cannot read x", hint="try y")
    assert err.diagnostics() == "cannot read x\nhint: try y"
    assert errors.ArtifactError("plain").diagnostics() == "plain"
    assert errors.PolicyFailure("x").exit_code == 1
    assert errors.InternalError("x").exit_code == 3


def test_public_names_are_exported() -> None:
    from stockade import core

    for name in core.__all__:
        assert hasattr(core, name)
    exported = {n for n in dir(errors) if n.endswith("Error") or n == "PolicyFailure"}
    assert exported <= set(core.__all__)
