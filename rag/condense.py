"""Follow-up questions -> standalone search queries, so "and how do I remove them?" finds what "them" means.

Two methods (RAG_FOLLOWUP): `rules` joins the previous query to a question that looks like a follow-up (a
pronoun, "and ..."/"what about ...", or very few content words); `model` asks the generator to rewrite it and
falls back to `rules` when the reply is unusable. `eval/sets/r-faq-followups.jsonl` measures both.
"""

import re
from collections.abc import Sequence

from rag.generator import Generator
from rag.settings import FollowUp
from rag.types import Turn

_REFERS_BACK = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|one|ones|"
    r"former|latter|same|above|previous|first|second|third|last|other|else)\b",
    re.IGNORECASE,
)
_CONTINUES = re.compile(r"^\s*(and|but|also|or|so|then|what about|how about|why not|which one|same)\b", re.IGNORECASE)
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the is are was were be do does did how what which who whom when where why can could should would will "
        "i you we me my your our of in on at to for with by from about as and or not tell more please explain",
    )
)
MAX_PREVIOUS_ANSWER = 300  # characters of the previous answer shown to the rewriting model
MAX_CARRIED_WORDS = 32  # words of the previous query a follow-up carries along (queries must not grow each turn)


def looks_like_follow_up(question: str) -> bool:
    words = re.findall(r"[a-z0-9']+", question.lower())
    content = [w for w in words if w not in _STOPWORDS]
    without_acronyms = re.sub(r"\b[A-Z]{2,}\b", "", question)  # "the IT helpdesk" is not "it"
    return bool(_CONTINUES.match(question) or _REFERS_BACK.search(without_acronyms) or len(content) <= 2)


def rules_query(history: Sequence[Turn], question: str) -> str:
    """The previous standalone query followed by the question, when the question looks like a follow-up.
    Only the last MAX_CARRIED_WORDS words of the previous query are carried, so a long chat of follow-ups
    does not grow the query without bound."""
    if not history or not looks_like_follow_up(question):
        return question
    carried = " ".join(history[-1].query.split()[-MAX_CARRIED_WORDS:])
    return f"{carried} {question.strip()}"


REWRITE_SYSTEM = (
    "You rewrite a follow-up question into one standalone question that names what it refers to. "
    "Reply with the rewritten question only."
)
REWRITE_EXAMPLES = [
    ("How do I install the printer driver?", "And how do I remove it?", "How do I remove the printer driver?"),
    ("Who founded the museum?", "When did she die?", "When did the founder of the museum die?"),
]


def _rewrite_request(previous: Turn, question: str) -> str:
    answer = previous.answer[:MAX_PREVIOUS_ANSWER]
    return f"Previous question: {previous.query}\nPrevious answer: {answer}\nFollow-up question: {question}"


def model_query(generator: Generator, history: Sequence[Turn], question: str) -> str:
    """The generator's standalone version of a follow-up; `rules_query` when its reply is unusable."""
    if not history or not looks_like_follow_up(question):
        return question
    messages = [{"role": "system", "content": REWRITE_SYSTEM}]
    for earlier, follow_up, rewritten in REWRITE_EXAMPLES:
        messages.append({"role": "user", "content": _rewrite_request(Turn(earlier, earlier), follow_up)})
        messages.append({"role": "assistant", "content": rewritten})
    messages.append({"role": "user", "content": _rewrite_request(history[-1], question)})
    reply = "".join(generator.stream(messages, max_new_tokens=48, temperature=0.0, top_p=1.0))
    rewritten = reply.strip().splitlines()[0].strip(" \"'") if reply.strip() else ""
    if not rewritten or len(rewritten) > 4 * len(question) + 80 or rewritten.lower() == question.lower():
        return rules_query(history, question)
    return rewritten


def standalone_query(method: FollowUp, generator: Generator, history: Sequence[Turn], question: str) -> str:
    if method == "model":
        return model_query(generator, history, question)
    if method == "rules":
        return rules_query(history, question)
    return question
