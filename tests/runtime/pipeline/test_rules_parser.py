"""The rules language's parser: what it accepts, and errors with rule, column and what was expected."""

from __future__ import annotations

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline.rules.parser import MAX_DEPTH, MAX_RULE_LENGTH, parse_rule
from berth.runtime.pipeline.rules.syntax import Call, Compare, Field, ListOf, Literal, Logical, Scope, Unary

from .helpers import invalid


def condition(text: str) -> object:
    return parse_rule(f"if {text} then x = 1", 0).condition


def syntax_error(text: str, index: int = 0) -> BerthError:
    with pytest.raises(BerthError) as caught:
        parse_rule(text, index)
    assert caught.value.code is ErrorCode.INVALID_PIPELINE
    return caught.value


def test_a_whole_rule() -> None:
    rule = parse_rule(
        'if text contains "fraud" then team = "fraud-desk", urgent = true else urgent = false', 0
    )
    assert rule.condition == Compare("contains", Field(Scope.ANY, "text"), Literal("fraud"))
    assert [(a.target, a.value) for a in rule.then] == [
        ("team", Literal("fraud-desk")),
        ("urgent", Literal(True)),
    ]
    assert [(a.target, a.value) for a in rule.otherwise] == [("urgent", Literal(False))]


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = (Compare("==", Field(Scope.ANY, n), Literal(1)) for n in "abc")
    assert condition("a == 1 or b == 1 and c == 1") == Logical("or", (a, Logical("and", (b, c))))
    assert condition("not a == 1 and b == 1") == Logical("and", (Unary("not", a), b))
    assert condition("(a == 1 or b == 1) and c == 1") == Logical("and", (Logical("or", (a, b)), c))
    assert condition("a == 1 or b == 1 or c == 1") == Logical("or", (a, b, c))


def test_values_fields_and_functions() -> None:
    assert condition("input.age >= -18.5e0") == Compare(">=", Field(Scope.INPUT, "age"), Literal(-18.5))
    assert condition("output.in is not null") == Compare(
        "is not null", Field(Scope.OUTPUT, "in"), Literal(None)
    )
    assert condition('lower(x) in [\'a\', "b\\""]') == Compare(
        "in", Call("lower", (Field(Scope.ANY, "x"),)), ListOf((Literal("a"), Literal('b"')))
    )
    assert condition("x not in []") == Compare("not in", Field(Scope.ANY, "x"), ListOf(()))
    assert condition("max(a, 2) > 1") == Compare(
        ">", Call("max", (Field(Scope.ANY, "a"), Literal(2))), Literal(1)
    )
    assert condition("- x < 1") == Compare("<", Unary("-", Field(Scope.ANY, "x")), Literal(1))
    assert condition("flag") == Field(Scope.ANY, "flag")


def test_assignment_to_output_prefix() -> None:
    rule = parse_rule("if true then output.score = 1", 0)
    assert rule.then[0].target == "score"


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("when x then y = 1", 1, "expected 'if' at the start of the rule, found name 'when'"),
        ("if x = 1 then y = 2", 6, "'==' compares"),
        ("if x == 1 y = 2", 11, "expected 'then' or an operator, found name 'y'"),
        ("if x == 1 then", 15, "the name of an output field to assign, found the end of the rule"),
        ("if x == 1 then y", 17, "expected '=' after the field name"),
        ("if x == 1 then input.y = 2", 16, "rules assign outputs only"),
        ("if x == 1 then if = 2", 16, "the name of an output field"),
        ("if x == then y = 1", 9, "expected a value"),
        ('if x == "abc then y = 1', 9, "unterminated string"),
        ('if x == "a\\q" then y = 1', 11, "unknown escape"),
        ("if x == 1 then y = 2 z = 3", 22, "',' and another assignment, 'else' or the end of the rule"),
        ("if x == 1 then y = 2 else", 26, "the name of an output field"),
        ("if foo(x) then y = 1", 4, "unknown function 'foo'"),
        ("if lower(x, y) then y = 1", 4, "lower takes 1 arguments, got 2"),
        ("if max() > 1 then y = 1", 4, "max takes 1 or more arguments, got 0"),
        ("if round(1, 2, 3) then y = 1", 4, "round takes 1 to 2 arguments, got 3"),
        ("if x == 1 # then", 11, "unexpected character '#'"),
        ("if 1x == 1 then y = 1", 5, "after a number"),
        ("if 1e == 1 then y = 1", 5, "digits after the exponent"),
        ("if 1e999 == 1 then y = 1", 4, "too large"),
        ("if input == 1 then y = 1", 10, "'.' and a field name after 'input'"),
        ("if output.(x) then y = 1", 11, "a field name after 'output.'"),
        ("if x is 1 then y = 1", 9, "'null' after 'is'"),
        ("if x not 1 then y = 1", 10, "'in' after 'not'"),
        ("if (x == 1 then y = 1", 12, "')' or an operator"),
        ("if [1, 2 then y = 1", 10, "',' or ']'"),
        ("if 1 < 2 < 3 then y = 1", 10, "expected 'then' or an operator, found symbol '<'"),
        ("if then then y = 1", 4, "found keyword 'then'"),
        ("", 1, "expected 'if'"),
    ],
)
def test_syntax_errors_name_the_rule_column_and_expectation(text: str, column: int, expected: str) -> None:
    error = syntax_error(text, index=2)
    assert error.message.startswith(f"rule 2, column {column}: "), error.message
    assert expected in error.message, error.message
    assert error.details == {"rule": 2, "column": column}


def test_nesting_and_length_are_bounded() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    assert f"nested more than {MAX_DEPTH} levels" in syntax_error(f"if {deep} then y = 1").message
    nots = "not " * (MAX_DEPTH + 1)
    assert "nested" in syntax_error(f"if {nots} x then y = 1").message
    ok = "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    parse_rule(f"if {ok} then y = 1", 0)
    long = "if x then y = 1" + " " * MAX_RULE_LENGTH
    assert f"at most {MAX_RULE_LENGTH} characters" in syntax_error(long).message


def test_a_long_chain_is_flat() -> None:
    chain = " or ".join(["x"] * 300)
    rule = parse_rule(f"if {chain} then y = 1", 0)
    assert isinstance(rule.condition, Logical)
    assert len(rule.condition.operands) == 300


def test_rules_step_spec_errors_name_the_step_and_the_rule() -> None:
    error = invalid(
        {
            "post": [
                {"type": "map", "mapping": {"a": "b"}},
                {"type": "rules", "rules": ["if x then y = 1", "if x"]},
            ]
        },
        "post[1] (rules): rule 1, column 5: expected 'then'",
    )
    assert error.details == {"rule": 1, "column": 5, "step": 1, "type": "rules"}
    invalid({"post": [{"type": "rules", "rules": []}]}, "'rules' must be a list of 1 to 100 rules")
    invalid({"post": [{"type": "rules", "rules": "if x then y = 1"}]}, "'rules' must be a list")
    invalid({"post": [{"type": "rules", "rules": [3]}]}, "rule 0 must be a string")
    invalid({"post": [{"type": "rules", "rules": ["if x then y = 1"] * 101}]}, "1 to 100 rules")
    invalid({"pre": [{"type": "rules", "rules": ["if x then y = 1"]}]}, "unknown pre-step type 'rules'")
