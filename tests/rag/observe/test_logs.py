import json
import logging
import threading

import pytest

from rag.observe.logs import request_scope, setup_logging, text_fields
from tests.helpers import make_settings


def lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines()]


def test_log_lines_are_json_with_the_request_id_of_the_scope(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    setup_logging(make_settings(tmp_path, tmp_path), "api")
    setup_logging(make_settings(tmp_path, tmp_path), "api")  # again: still one handler
    log = logging.getLogger("rag.test")
    with request_scope("abc12345"):
        log.info("inside", extra={"hits": 3})
        worker = threading.Thread(target=lambda: log.info("other thread"))  # no context: no id
        worker.start()
        worker.join()
        log.info("explicit", extra={"request_id": "given-id-1"})
    log.info("outside")
    log.debug("hidden at INFO")
    found = lines(capsys.readouterr().err)
    assert [(f["message"], f["request_id"]) for f in found] == [
        ("inside", "abc12345"), ("other thread", None), ("explicit", "given-id-1"), ("outside", None)]  # fmt: skip
    assert found[0]["hits"] == 3 and found[0]["level"] == "INFO" and found[0]["process_role"] == "api"
    assert found[0]["time"].endswith("+00:00") and found[0]["logger"] == "rag.test"


def test_one_shot_commands_log_warnings_only_unless_told(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    setup_logging(make_settings(tmp_path, tmp_path), "rag", "WARNING")
    logging.getLogger("rag.test").info("quiet")
    setup_logging(make_settings(tmp_path, tmp_path, log_level="DEBUG"), "rag", "WARNING")
    logging.getLogger("rag.test").debug("loud")
    assert [f["message"] for f in lines(capsys.readouterr().err)] == ["loud"]


def test_question_text_reaches_a_log_line_only_as_the_interaction_setting_allows(tmp_path) -> None:
    question = "Is jane@example.com on leave?"
    for mode, expected in [("off", {}), ("redacted", {"question": "Is [email removed] on leave?"}),
                           ("full", {"question": question})]:  # fmt: skip
        settings = make_settings(tmp_path, tmp_path, log_interactions=mode)
        assert text_fields(settings, question=question) == expected
