"""A tiny stand-in for the course's RAG API: stdlib only, port 8000, `/health` for probes and
`/ask?q=...` answering from a canned list. Configuration comes from the environment, as the
Deployment's `envFrom` (ConfigMap rag-config, Secret rag-secrets) provides it."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ANSWERS = {
    "pod": "A pod is one or more containers that share a network namespace and volumes.",
    "deployment": "A Deployment keeps N identical pods running and rolls out new versions.",
    "service": "A Service gives a stable name and address to a changing set of pods.",
    "ingress": "An Ingress routes HTTP requests by host and path to Services.",
}
FALLBACK = "I only know about pods, deployments, services and ingresses."


def settings() -> dict[str, str]:
    return {
        "model": os.environ.get("MODEL_NAME", "canned-answers"),
        "vector_db": os.environ.get("VECTOR_DB_URL", "none"),
        "top_k": os.environ.get("TOP_K", "3"),
        "api_key_set": str(bool(os.environ.get("OPENAI_API_KEY"))).lower(),
    }


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/health":
            self._send(200, {"status": "ok", "model": settings()["model"]})
        elif url.path == "/ask":
            question = parse_qs(url.query).get("q", [""])[0]
            topic = next((word for word in ANSWERS if word in question.lower()), None)
            answer = ANSWERS[topic] if topic else FALLBACK
            self._send(200, {"question": question, "answer": answer, **settings()})
        else:
            self._send(404, {"error": f"no route {url.path}; try /health or /ask?q=..."})

    def log_message(self, format: str, *args) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def server(host: str = "0.0.0.0", port: int = 8000) -> ThreadingHTTPServer:  # noqa: S104 (a container listens on all)
    return ThreadingHTTPServer((host, port), Handler)


if __name__ == "__main__":
    httpd = server(port=int(os.environ.get("PORT", "8000")))
    print(f"rag-api listening on :{httpd.server_address[1]} with model {settings()['model']}", flush=True)
    httpd.serve_forever()
