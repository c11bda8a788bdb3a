import pytest

from orchestrator.engine.expressions import (Condition, ExpressionError, ExpressionSyntaxError, Template,
                                             render)

VALUES = {"choice": "2", "name": "Ana", "amount": "1500", "empty": "", "zero": "0", "attempts.menu": "3"}


def resolve(name):
    if name not in VALUES:
        raise ExpressionError(f"unknown variable '{name}'")
    return VALUES[name]


def test_template_interpolates_and_escapes():
    assert render("Hello ${name}, ${ amount } due; literal $${x}", resolve) == "Hello Ana, 1500 due; literal ${x}"
    assert Template.parse("${a}-${b.c}").variables == ["a", "b.c"]
    assert render(12, resolve) == "12" and render(True, resolve) == "true"


@pytest.mark.parametrize("text", ["${unclosed", "${}", "${1abc}", "${a b}"])
def test_template_syntax_errors(text):
    with pytest.raises(ExpressionSyntaxError):
        Template.parse(text)


def test_unknown_variable_is_a_clear_runtime_error():
    with pytest.raises(ExpressionError, match="unknown variable 'nope'"):
        render("${nope}", resolve)


@pytest.mark.parametrize("condition, expected", [
    ("${choice} == 2", True),
    ("${choice} == '2'", True),
    ("${choice} != 2", False),
    ("${amount} > 999.5", True),
    ("${amount} <= 1500 and ${amount} >= 1500", True),
    ("${attempts.menu} < 3", False),
    ("${name} == \"Ana\"", True),
    ("${name} == 'ana'", False),
    ("not ${choice} == 1", True),
    ("${choice} == 1 or ${choice} == 2", True),
    ("${choice} == 1 or (${choice} == 2 and not ${empty})", True),
    ("not (${choice} == 1 or ${choice} == 2)", False),
    ("${empty}", False),
    ("${zero}", False),
    ("${name}", True),
    ("-1 < 0", True),
])
def test_conditions(condition, expected):
    assert Condition.parse(condition).evaluate(resolve) is expected


def test_condition_lists_its_variables():
    assert Condition.parse("${a} == 1 and not (${b} < ${c})").variables == ["a", "b", "c"]


@pytest.mark.parametrize("text, message", [
    ("", "the condition is empty"),
    ("${a} ==", "the condition ends where a value was expected"),
    ("${a} == 1 1", "unexpected '1' at 11"),
    ("(${a} == 1", "'(' at 1 is never closed"),
    ("choice == 1", "bare word 'choice': write ${choice} for a variable or 'choice' for text"),
    ("${a} = 1", "unexpected '=' at 6"),
    ("__import__('os').system('x')", "bare word '__import__'"),
])
def test_condition_syntax_errors(text, message):
    with pytest.raises(ExpressionSyntaxError) as caught:
        Condition.parse(text)
    assert message in str(caught.value)


def test_ordering_text_is_an_error_that_does_not_show_the_value():
    with pytest.raises(ExpressionError) as caught:
        Condition.parse("${name} < 3").evaluate(resolve)
    assert "needs two numbers" in str(caught.value)
    assert "Ana" not in str(caught.value)
