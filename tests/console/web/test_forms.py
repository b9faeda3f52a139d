"""The pure parts of the UI's forms: field specs kept in step with the API's settings,
and the sentences refusals become (never quoting the input)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stockade.console.alerts.channels import CONFIG_TYPES
from stockade.console.policies.schemas import CollectionChange, RuleCreate
from stockade.console.web.alerting import CHANNEL_FIELDS
from stockade.console.web.forms import problem_of


def test_every_setting_of_every_channel_kind_has_a_field() -> None:
    for kind, model in CONFIG_TYPES.items():
        fields = CHANNEL_FIELDS[kind]
        assert [f.name for f in fields if f.secret] == list(model.SECRETS), kind
        assert {f.name for f in fields} == set(model.model_fields), kind
        assert {f.name for f in fields if f.required} >= set(model.REQUIRED_SECRETS), kind


def _problem(model: type[RuleCreate] | type[CollectionChange], body: object, **kw: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    labels = {
        "name": "The name",
        "graceDays": "Grace",
        "exceptions.expires": "Expiry",
        "labels": "Labels",
    }
    return problem_of(caught.value, labels, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (RuleCreate, {"name": ""}, "The name is required."),
        (RuleCreate, {}, "The name is required."),
        (RuleCreate, {"name": "a b"}, "The name has characters that are not allowed."),
        (RuleCreate, {"name": "x" * 65}, "The name is too long (at most 64 characters)."),
        (RuleCreate, {"name": "ok", "graceDays": "x"}, "Grace must be a whole number."),
        (RuleCreate, {"name": "ok", "graceDays": 4000}, "Grace must be at most 3650."),
        (
            RuleCreate,
            {
                "name": "ok",
                "exceptions": [
                    {"id": "a", "reason": "b"},
                    {"id": "c", "reason": "d", "expires": "soon"},
                ],
            },
            "Expiry (entry 2) must be a date written YYYY-MM-DD.",
        ),
        (RuleCreate, {"name": "ok", "surprise": 1}, "surprise is not a field of this form."),
        (CollectionChange, {"labels": ["x"]}, "Labels: a label pattern is KEY=VALUE."),
    ],
)
def test_refusals_become_sentences_naming_the_field(
    model: type[RuleCreate], body: object, expected: str
) -> None:
    assert _problem(model, body) == expected


def test_a_pattern_hint_replaces_the_generic_sentence_and_input_is_never_quoted() -> None:
    secret = "hunter2 with spaces"  # noqa: S105  # a test input
    text = _problem(RuleCreate, {"name": secret}, patterns={"name": "Letters only."})
    assert text == "Letters only."
    assert secret not in _problem(RuleCreate, {"name": secret})
