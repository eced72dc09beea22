"""quiz.yaml: the lesson's questions, graded on the server."""

from typing import Any

from lessons.loading.data import QuestionData
from lessons.loading.fields import check_id, check_keys, check_one_of, check_unique_ids, is_mapping
from lessons.loading.markdown import markdown_render, markdown_render_inline
from lessons.loading.problems import Source
from lessons.loading.yamlfile import YamlList, YamlMap

KINDS = ("single", "multiple")


def _check_choices(source: Source, question: YamlMap) -> None:
    choices = question["choices"]
    if len(choices) < 2:
        source.error(question.line_of("choices"), "a question needs at least two choices")
    for index, choice in enumerate(choices):
        if is_mapping(source, choice, choices.line_of(index), "choice"):
            check_keys(source, choice, "choice", required={"id": str, "text": str}, optional={"correct": bool})
            check_id(source, choice.get("id"), choice.line_of("id"), "choice")
    check_unique_ids(source, choices, "choice")
    correct = sum(1 for choice in choices if isinstance(choice, YamlMap) and choice.get("correct") is True)
    kind = question.get("kind")
    if kind == "single" and correct != 1:
        source.error(
            question.line_of("choices"), f"a single-choice question needs exactly one correct choice, found {correct}"
        )
    elif kind == "multiple" and correct == 0:
        source.error(question.line_of("choices"), "a multiple-choice question needs at least one correct choice")


def _check_question(source: Source, question: YamlMap) -> None:
    check_keys(
        source,
        question,
        "question",
        required={"id": str, "prompt": str, "kind": str, "choices": list},
        optional={"explanation": str},
    )
    check_id(source, question.get("id"), question.line_of("id"), "question")
    check_one_of(source, question, "kind", KINDS, "question")
    if isinstance(question.get("choices"), YamlList):
        _check_choices(source, question)


def check_quiz_file(source: Source, document: Any) -> None:
    if not is_mapping(source, document, 1, "quiz.yaml"):
        return
    check_keys(source, document, "quiz.yaml", required={"questions": list})
    questions = document.get("questions")
    if not isinstance(questions, YamlList):
        return
    if not questions:
        source.error(document.line_of("questions"), "quiz.yaml has no questions (leave the file out instead)")
    for index, question in enumerate(questions):
        if is_mapping(source, question, questions.line_of(index), "question"):
            _check_question(source, question)
    check_unique_ids(source, questions, "question")


def question_data(document: YamlMap) -> list[QuestionData]:
    """The questions of a quiz.yaml that check_quiz_file found valid."""
    return [
        QuestionData(
            slug=question["id"],
            kind=question["kind"],
            prompt_html=markdown_render(question["prompt"]),
            choices=[
                {"id": choice["id"], "html": markdown_render_inline(choice["text"])} for choice in question["choices"]
            ],
            correct=[choice["id"] for choice in question["choices"] if choice.get("correct") is True],
            explanation_html=markdown_render(question.get("explanation", "")),
        )
        for question in document["questions"]
    ]
