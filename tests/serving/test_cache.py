import time

from serving.cache import AnswerCache


def test_the_same_question_on_the_same_documents_hits() -> None:
    cache = AnswerCache(ttl_s=60)
    key = cache.key("How do I delete a document?", [], {"top_k": None}, "gen-1")
    cache.put(key, {"answer": "Press Delete."})
    assert cache.get(cache.key("  how do I delete a DOCUMENT ", [], {"top_k": None}, "gen-1")) == {
        "answer": "Press Delete."
    }
    assert cache.get(cache.key("How do I delete a document?", [], {"top_k": 3}, "gen-1")) is None
    assert cache.get(cache.key("How do I delete a document?", [], {"top_k": None}, "gen-2")) is None  # new documents
    history = [{"question": "What is a document?", "answer": "A file."}]
    assert cache.get(cache.key("How do I delete a document?", history, {"top_k": None}, "gen-1")) is None


def test_entries_expire_and_zero_turns_it_off() -> None:
    cache = AnswerCache(ttl_s=0.2)
    cache.put("k", {"answer": "a"})
    assert cache.get("k") is not None
    time.sleep(0.3)
    assert cache.get("k") is None
    off = AnswerCache(ttl_s=0)
    off.put("k", {"answer": "a"})
    assert off.get("k") is None
