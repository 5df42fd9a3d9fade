"""The OpenAI-compatible teacher against a local HTTP server, and the llm2llm storage queries.

The server is a labelled test double of an external chat endpoint (vLLM, Ollama, OpenAI): it
answers like `/v1/chat/completions`, fails the first call of every prompt with HTTP 500 (to
exercise retries) and never answers prompts containing 'HANG' within the timeout.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from chat_server import ChatHandler

from engine.llm2llm.teacher import EndpointTeacher, TeacherSettings, make_teacher
from engine.storage import llm2llm as db


class _FakeChat(ChatHandler):
    seen: dict[str, int] = {}
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body | {"auth": self.headers.get("Authorization")})
        prompt = body["messages"][0]["content"]
        if "HANG" in prompt:
            time.sleep(1.5)
        count = self.seen[prompt] = self.seen.get(prompt, 0) + 1
        if count == 1:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"overloaded")
            return
        reply = {"choices": [{"message": {"role": "assistant", "content": f"Text: new {prompt}"}}]}
        self.reply_json(json.dumps(reply).encode())


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the client hung up on the 'HANG' request on purpose (its timeout)


@pytest.fixture
def chat_server():
    server = _QuietServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_endpoint_teacher_retries_and_records_failures(chat_server, monkeypatch):
    monkeypatch.setenv("TEST_TEACHER_KEY", "sk-test")
    monkeypatch.setenv("SEEDBED_TEACHER_ENDPOINTS", f"{chat_server}=TEST_TEACHER_KEY")  # keys: configured only
    settings = TeacherSettings(model=chat_server, endpoint_model="tiny", api_key_env="TEST_TEACHER_KEY",
                               timeout_s=0.5, retries=1, concurrency=4, max_new_tokens=64)
    teacher = make_teacher(settings)
    assert isinstance(teacher, EndpointTeacher) and teacher.name.endswith("#tiny")
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(5)] + [[{"role": "user", "content": "HANG"}]]
    replies = teacher.generate(prompts, seed=7)
    assert [r.raw for r in replies[:5]] == [f"Text: new q{i}" for i in range(5)]  # order kept, retried once
    assert replies[5].raw is None and replies[5].error.startswith("request_failed: ReadTimeout")
    body = _FakeChat.bodies[0]
    assert body["model"] == "tiny" and body["auth"] == "Bearer sk-test" and body["max_tokens"] == 64
    assert {b["seed"] for b in _FakeChat.bodies if b["messages"][0]["content"] != "HANG"} == {7, 8, 9, 10, 11}


def _candidate(ident, parent, iteration, accepted=True):
    return dict(example_id=ident, parent_id=parent, iteration=iteration, attempt=1, teacher="t", raw_output="Text: x",
                input=f"input of {ident}", output="NUM", accepted=accepted, reason=None if accepted else "parse_failure")


def test_storage_curator_flag_family_tree_and_idempotent_upserts(workspace):
    with workspace.connect() as con:
        db.create_run(con, "r", "trec", {"k": 1}, 0, [("train-1", "a b c", "NUM"), ("train-2", "d e f", "LOC")],
                      [("test-1", "g h i", "NUM")])
        rows = [_candidate("syn-0-train-1-0", "train-1", 0), _candidate("syn-0-train-1-1", "train-1", 0, False),
                _candidate("syn-1-syn-0-train-1-0-0", "syn-0-train-1-0", 1)]  # scope=all: a synthetic parent
        db.save_synthetic(con, "r", rows)
        db.save_synthetic(con, "r", rows[:1])  # a redone batch replaces, never duplicates
        assert db.set_curator_rejected(con, "r", "syn-0-train-1-0") == 1
        db.save_synthetic(con, "r", rows[:1])  # ... and keeps the curator's flag
        assert db.set_curator_rejected(con, "r", "nope") == 0
        assert db.eligible_synthetic(con, "r", 2) == [("syn-1-syn-0-train-1-0-0", "input of syn-1-syn-0-train-1-0-0", "NUM")]
        tree = db.family_tree(con, "r", "train-1")
        db.save_predictions(con, "r", 0, "test", [("test-1", "LOC", False)])
        db.save_predictions(con, "r", 0, "test", [("test-1", "NUM", True)])
        assert db.predictions(con, "r", 0, "test") == [("test-1", "NUM", True)]
        assert db.augmented_parents(con, "r", 0) == {"train-1"}
        assert len(db.known_inputs(con, "r")) == 3 + 2  # seeds, test row, accepted candidates
    assert tree["example_id"].tolist() == ["train-1", "syn-0-train-1-0", "syn-0-train-1-1", "syn-1-syn-0-train-1-0-0"]
    assert tree["depth"].tolist() == [0, 1, 1, 2]
    assert tree["curator_rejected"].tolist() == [False, True, False, False]


def test_an_endpoint_that_times_out_stops_the_run_with_one_line(chat_server, workspace, tmp_path):
    from engine.errors import UserError
    from engine.llm2llm.augment import augment_parents, check_teacher_output
    from engine.llm2llm.config import LLM2LLMConfig
    from engine.llm2llm.loop import create_llm2llm
    from engine.llm2llm.tasks import Task

    rows = "".join(f'{{"input": "HANG question number {i} here ?", "output": "{"ab"[i % 2]}"}}\n' for i in range(4))
    (tmp_path / "t.jsonl").write_text(rows)
    teacher = TeacherSettings(model=chat_server, endpoint_model="m", timeout_s=0.3, retries=0)
    config = LLM2LLMConfig(task="jsonl", train_path=str(tmp_path / "t.jsonl"), test_path=str(tmp_path / "t.jsonl"),
                           seed_size=2, label_check="off", topic_check=False, max_attempts=1, teacher=teacher)
    create_llm2llm(workspace, "hang", config)
    with workspace.connect() as con:
        seeds = db.run_examples(con, "hang", "seed")
    augment_parents(workspace, "hang", 0, Task("jsonl", "classification", ("a", "b")),
                    [(i, "wrong") for i, _, _ in seeds], {i: (x, y) for i, x, y in seeds}, config, 1)
    with workspace.connect() as con:
        counts = db.candidate_counts(con, "hang", 0)
    assert counts == dict(requests=2, parsed=0, accepted=0, reasons={"request_failed": 2})
    with pytest.raises(UserError, match=r"gave no usable reply to any of 2 requests in iteration 0 \(request_failed 2\)"):
        check_teacher_output(counts, 0, teacher.model)
