"""The rag-api demo app that Module 15's project deploys (k8s/images/rag-api): started in
process on a free local port, it answers /health and /ask with its environment's settings."""

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "k8s" / "images" / "rag-api" / "app.py"


@pytest.fixture
def base_url(monkeypatch):
    monkeypatch.setenv("MODEL_NAME", "test-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    spec = importlib.util.spec_from_file_location("rag_api_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    httpd = module.server(host="127.0.0.1", port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_answers_ok_with_the_model_from_the_environment(base_url):
    assert get(f"{base_url}/health") == (200, {"status": "ok", "model": "test-model"})


def test_ask_answers_a_known_topic_with_the_settings_but_not_the_key(base_url):
    status, body = get(f"{base_url}/ask?q=What%20is%20a%20Deployment%3F")
    assert status == 200
    assert body["question"] == "What is a Deployment?"
    assert body["answer"].startswith("A Deployment keeps N identical pods running")
    assert body["model"] == "test-model"
    assert body["api_key_set"] == "true"
    assert "sk-test" not in json.dumps(body)


def test_ask_about_something_else_gets_the_fallback(base_url):
    status, body = get(f"{base_url}/ask?q=weather")
    assert status == 200
    assert body["answer"] == "I only know about pods, deployments, services and ingresses."


def test_an_unknown_path_is_404_and_names_the_routes(base_url):
    status, body = get(f"{base_url}/nope")
    assert status == 404
    assert "/health" in body["error"]
