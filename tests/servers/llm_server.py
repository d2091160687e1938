#!/usr/bin/env python3
"""A scripted model server for tests: speaks the four wire formats agent's providers use.

Loopback only, standard library only. Start it with an ephemeral port:

    llm_server.py --port-file PORT [--key KEY] [--log FILE] [--scenario FILE]
                  [--latency-ms N] [--default-reply TEXT]

Once listening it writes its port to PORT (atomically, so a reader never sees a partial
number). tests/lua/testutil.lua's start_server("llm_server.py", {...}) does exactly that.

Endpoints (the real paths):
    POST /v1/chat/completions                         openai (stream: SSE data chunks, [DONE])
    POST /v1/messages                                 anthropic (stream: named SSE events)
    POST /v1beta/models/<model>:generateContent       gemini
    POST /v1beta/models/<model>:streamGenerateContent?alt=sse   gemini, streamed (CRLF SSE)
    POST /api/chat                                    ollama (stream: NDJSON; false: one object)
    GET  /_requests                                   every request recorded so far (JSON array)
    POST /_scenario                                   replace the rules (body: a scenario)
    GET  /_health                                     "ok"

Auth, with --key KEY (without it every request is accepted, like a local server):
    openai     Authorization: Bearer KEY     else 401 {"error": {..., "code": "invalid_api_key"}}
    anthropic  x-api-key: KEY                else 401 {"type": "error", "error": {"type":
               "authentication_error", ...}}; anthropic-version is always required (400)
    gemini     x-goog-api-key: KEY (or ?key=) else, as Google answers: 400 INVALID_ARGUMENT
               with reason API_KEY_INVALID for a wrong key, 403 PERMISSION_DENIED for none
    ollama     no auth (Ollama has none)
The error messages echo the key that was sent, so tests can prove the client never repeats
a server's message verbatim.

The log (--log FILE) gets one JSON line per request, written before any reply is sent:
    {"seq", "time" (epoch s, arrival), "method", "path", "query", "headers" (lower-case
     names), "body" (parsed JSON, or null), "body_text" (when not JSON), "format",
     "prompt" (system and user text joined by a newline), "rule" (index or null)}

Scenario (--scenario FILE or POST /_scenario): a JSON list of rules, or {"rules": [...]}.
The first rule that matches a request and is not used up answers it:
    match          substring of the request's prompt (system + "\\n" + user), or "*" (default)
    format         only for this wire format: "openai" | "anthropic" | "gemini" | "ollama"
    times          how many matching requests the rule serves before the next applies
                   (default: all of them)
    reply          the reply text; a JSON value other than a string is sent as its JSON text
    finish         "stop" (default) | "length" (the format's truncation reason) | any other
                   string, sent as the format's own reason ("refusal", "SAFETY",
                   "content_filter", "model_context_window_exceeded")
    refusal        openai: the refusal text, as message.refusal with content null (streamed:
                   delta.refusal chunks)
    block_reason   gemini: promptFeedback.blockReason, and no candidates
    safety_ratings gemini: the candidate's safetyRatings list
    role_every_chunk  openai streams: delta.role in every chunk, as Ollama's /v1 sends it
    usage          {"input": N, "output": M}; default: characters / 4
    latency_ms     wait before answering (default --latency-ms, else 0)
    status         an HTTP error status (429, 500, 503...) answered in the format's error
                   shape instead of a reply
    retry_after    Retry-After header value sent with the status (e.g. 1 or "1")
    error          with status: fields merged into the format's error object, for a real
                   service's body, e.g. {"code": "insufficient_quota", "message": "..."};
                   a string replaces the error (ollama: "model 'x' not found")
    behavior       "hang"      never answer (until the client gives up)
                   "drop"      send headers and half the body or stream, then close
                   "malformed" 200 with a body (or stream chunk) that is not valid JSON
                   "empty"     200 with an empty body (or a stream with no events)
                   "huge"      a reply of huge_mb megabytes of text (default 8)
    chunk_chars    characters per streamed chunk (default 16)
    chunk_delay_ms pause between streamed chunks (default 0)
Requests no rule matches get --default-reply (default: {"ok": true}) with finish "stop".
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_CHUNK_CHARS = 16
DEFAULT_HUGE_MB = 8
HANG_LIMIT_S = 600  # a hung request gives up after this, so a forgotten server still exits


class Scenario:
    """The ordered rules and how many requests each has served; safe across threads."""

    def __init__(self, rules=None):
        self.lock = threading.Lock()
        self.set(rules or [])

    def set(self, data):
        rules = data.get("rules", []) if isinstance(data, dict) else data
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ValueError("a scenario is a list of rule objects (or {\"rules\": [...]})")
        with self.lock:
            self.rules = rules
            self.served = [0] * len(rules)

    def pick(self, fmt, prompt):
        """The first matching rule that is not used up, as (index, rule), or (None, {})."""
        with self.lock:
            for i, rule in enumerate(self.rules):
                if rule.get("format") not in (None, fmt):
                    continue
                times = rule.get("times")
                if times is not None and self.served[i] >= times:
                    continue
                match = rule.get("match", "*")
                if match != "*" and match not in prompt:
                    continue
                self.served[i] += 1
                return i, rule
        return None, {}


class Recorder:
    """Keeps every request in memory and appends it to the log file as one JSON line."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.entries = []

    def add(self, entry):
        with self.lock:
            entry["seq"] = len(self.entries) + 1
            self.entries.append(entry)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, sort_keys=True) + "\n")

    def all(self):
        with self.lock:
            return list(self.entries)


# ---- Prompt text and wire shapes, one block per format ------------------------------------


def text_of(content):
    """Text of an OpenAI/Anthropic content value: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def prompt_of(fmt, body):
    if not isinstance(body, dict):
        return ""
    parts = []
    if fmt == "anthropic":
        parts.append(text_of(body.get("system", "")))
    if fmt == "gemini":
        si = body.get("systemInstruction") or body.get("system_instruction") or {}
        parts.append(text_of(si.get("parts", [])))
        for c in body.get("contents", []) or []:
            parts.append(text_of(c.get("parts", [])))
    else:
        for m in body.get("messages", []) or []:
            if isinstance(m, dict):
                parts.append(text_of(m.get("content", "")))
    return "\n".join(p for p in parts if p)


def usage_of(rule, prompt, text):
    usage = rule.get("usage") or {}
    return (usage.get("input", max(1, len(prompt) // 4)), usage.get("output", max(1, len(text) // 4)))


ERROR_TYPES = {
    "openai": {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests"},
    "anthropic": {400: "invalid_request_error", 401: "authentication_error",
                  403: "permission_error", 429: "rate_limit_error", 529: "overloaded_error"},
    "gemini": {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED",
               500: "INTERNAL", 503: "UNAVAILABLE"},
}


def error_body(fmt, status, message, reason=None):
    if fmt == "openai":
        kind = ERROR_TYPES["openai"].get(status, "server_error")
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
    if fmt == "anthropic":
        kind = ERROR_TYPES["anthropic"].get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if fmt == "gemini":
        err = {"code": status, "message": message,
               "status": ERROR_TYPES["gemini"].get(status, "UNKNOWN")}
        if reason:
            err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                               "reason": reason, "domain": "googleapis.com"}]
        return {"error": err}
    return {"error": message}


def finish_reason(fmt, finish):
    if finish not in ("stop", "length"):
        return finish
    length = finish == "length"
    return {
        "openai": "length" if length else "stop",
        "anthropic": "max_tokens" if length else "end_turn",
        "gemini": "MAX_TOKENS" if length else "STOP",
        "ollama": "length" if length else "stop",
    }[fmt]


def whole_reply(fmt, model, text, finish, usage, rule=None):
    """The non-streamed reply object of each format."""
    rule = rule or {}
    reason = finish_reason(fmt, finish)
    if fmt == "openai":
        message = {"role": "assistant", "content": text}
        if rule.get("refusal") is not None:
            message = {"role": "assistant", "content": None, "refusal": rule["refusal"]}
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                          "total_tokens": usage[0] + usage[1]}}
    if fmt == "anthropic":
        return {"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": reason,
                "stop_sequence": None,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}
    if fmt == "gemini":
        if rule.get("block_reason"):
            return {"promptFeedback": {"blockReason": rule["block_reason"]},
                    "usageMetadata": {"promptTokenCount": usage[0]}, "modelVersion": model}
        cand = {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": reason,
                "index": 0}
        if rule.get("safety_ratings") is not None:
            cand["safetyRatings"] = rule["safety_ratings"]
        return {"candidates": [cand],
                "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                                  "totalTokenCount": usage[0] + usage[1]},
                "modelVersion": model, "responseId": "resp-test"}
    return {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": {"role": "assistant", "content": text}, "done_reason": reason,
            "done": True, "total_duration": 1000, "prompt_eval_count": usage[0],
            "eval_count": usage[1]}


def sse(data, event=None, crlf=False):
    nl = "\r\n" if crlf else "\n"
    head = f"event: {event}{nl}" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}{nl}{nl}".encode()


def stream_frames(fmt, model, pieces, finish, usage, want_usage, rule=None):
    """The streamed reply of each format as a list of byte frames."""
    rule = rule or {}
    reason = finish_reason(fmt, finish)
    if fmt == "openai":
        def chunk(delta, fin=None, **extra):
            c = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                 "created": int(time.time()), "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]}
            if want_usage:
                c["usage"] = None
            c.update(extra)
            return sse(c)
        role = {"role": "assistant"} if rule.get("role_every_chunk") else {}
        frames = [chunk({"role": "assistant", "content": ""})]
        if rule.get("refusal") is not None:
            frames += [chunk({**role, "refusal": p}) for p in split(rule["refusal"], 8)]
        else:
            frames += [chunk({**role, "content": p}) for p in pieces]
        frames.append(chunk(dict(role), reason))
        if want_usage:
            frames.append(sse({"id": "chatcmpl-test", "object": "chat.completion.chunk",
                               "created": int(time.time()), "model": model, "choices": [],
                               "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                         "total_tokens": usage[0] + usage[1]}}))
        frames.append(sse("[DONE]"))
        return frames
    if fmt == "anthropic":
        frames = [sse({"type": "message_start", "message": {
            "id": "msg_test", "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1}}}, "message_start"),
            sse({"type": "content_block_start", "index": 0,
                 "content_block": {"type": "text", "text": ""}}, "content_block_start"),
            sse({"type": "ping"}, "ping")]
        frames += [sse({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": p}}, "content_block_delta")
                   for p in pieces]
        frames += [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                   sse({"type": "message_delta",
                        "delta": {"stop_reason": reason, "stop_sequence": None},
                        "usage": {"output_tokens": usage[1]}}, "message_delta"),
                   sse({"type": "message_stop"}, "message_stop")]
        return frames
    if fmt == "gemini":
        if rule.get("block_reason"):
            return [sse(whole_reply(fmt, model, "", finish, usage, rule), crlf=True)]
        frames = []
        for i, p in enumerate(pieces or [""]):
            last = i == max(len(pieces), 1) - 1
            cand = {"content": {"parts": [{"text": p}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = reason
                if rule.get("safety_ratings") is not None:
                    cand["safetyRatings"] = rule["safety_ratings"]
            frame = {"candidates": [cand], "modelVersion": model, "responseId": "resp-test",
                     "usageMetadata": {"promptTokenCount": usage[0]}}
            if last:
                frame["usageMetadata"] = {"promptTokenCount": usage[0],
                                          "candidatesTokenCount": usage[1],
                                          "totalTokenCount": usage[0] + usage[1]}
            frames.append(sse(frame, crlf=True))
        return frames
    frames = [(json.dumps({"model": model, "message": {"role": "assistant", "content": p},
                           "done": False}) + "\n").encode() for p in pieces]
    final = whole_reply("ollama", model, "", finish, usage)
    return frames + [(json.dumps(final) + "\n").encode()]


def split(text, size):
    size = max(1, int(size))
    return [text[i:i + size] for i in range(0, len(text), size)]


# ---- The request handler --------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm_server/1"
    disable_nagle_algorithm = True  # stream chunks leave at once, as from a real API

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    # -- plumbing

    def send_bytes(self, status, body, ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        self.send_bytes(status, json.dumps(obj).encode(), headers=headers)

    def start_chunked(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self):
        """Closes the connection at once, mid-reply, as a crashed upstream does."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hang(self):
        self.close_connection = True
        deadline = time.time() + HANG_LIMIT_S
        while time.time() < deadline and not self.server.stopping.is_set():
            time.sleep(0.05)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None, None
        except ValueError:
            return None, raw.decode("utf-8", "replace")

    # -- routes

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_requests":
            self.send_json(200, self.server.recorder.all())
        elif path == "/_health":
            self.send_bytes(200, b"ok", "text/plain")
        else:
            self.send_json(404, {"error": f"no route for GET {path}"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body, body_text = self.read_body()
        if url.path == "/_scenario":
            try:
                self.server.scenario.set(body)
            except ValueError as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, {"rules": len(self.server.scenario.rules)})
        fmt, model, stream = self.route(url.path, query, body)
        prompt = prompt_of(fmt, body) if fmt else ""
        index, rule = self.server.scenario.pick(fmt, prompt) if fmt else (None, {})
        self.server.recorder.add({
            "time": time.time(), "method": "POST", "path": url.path, "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
            "body_text": body_text, "format": fmt, "prompt": prompt, "rule": index})
        if not fmt:
            return self.send_json(404, {"error": f"no route for POST {url.path}"})
        problem = self.check(fmt, body, query)
        if problem:
            return self.send_json(problem[0], problem[1])
        latency = rule.get("latency_ms", self.server.latency_ms)
        if latency:
            time.sleep(latency / 1000.0)
        self.answer(fmt, model or "", stream, body, prompt, rule)

    def route(self, path, query, body):
        """(format, model, streamed) for a model endpoint, or (None, None, False)."""
        body = body if isinstance(body, dict) else {}
        if path == "/v1/chat/completions":
            return "openai", body.get("model"), bool(body.get("stream"))
        if path == "/v1/messages":
            return "anthropic", body.get("model"), bool(body.get("stream"))
        if path == "/api/chat":
            return "ollama", body.get("model"), body.get("stream", True) is not False
        if path.startswith("/v1beta/models/"):
            model, _, method = path[len("/v1beta/models/"):].partition(":")
            if method == "generateContent":
                return "gemini", model, False
            if method == "streamGenerateContent":
                return "gemini", model, query.get("alt") == "sse"
        return None, None, False

    def check(self, fmt, body, query):
        """(status, error body) when auth or the request shape is wrong, else None."""
        key = self.server.key
        h = self.headers
        if fmt == "openai":
            sent = (h.get("Authorization") or "").removeprefix("Bearer ")
            if key and sent != key:
                return 401, error_body(fmt, 401, f"Incorrect API key provided: {sent}.")
        elif fmt == "anthropic":
            sent = h.get("x-api-key") or ""
            if key and sent != key:
                return 401, error_body(fmt, 401, f"invalid x-api-key: {sent}")
            if not h.get("anthropic-version"):
                return 400, error_body(fmt, 400, "anthropic-version: header is required")
        elif fmt == "gemini":
            sent = h.get("x-goog-api-key") or query.get("key") or ""
            if key and not sent:
                return 403, error_body(fmt, 403, "Method doesn't allow unregistered callers "
                                       "(callers without established identity).")
            if key and sent != key:
                return 400, error_body(fmt, 400, f"API key not valid ({sent}). Please pass a "
                                       "valid API key.", "API_KEY_INVALID")
        if not isinstance(body, dict):
            return 400, error_body(fmt, 400, "the request body is not a JSON object")
        return self.check_shape(fmt, body)

    @staticmethod
    def check_shape(fmt, body):
        """The checks the real services make that a client is most likely to get wrong."""
        if fmt in ("openai", "anthropic", "ollama") and not body.get("model"):
            return 400, error_body(fmt, 400, "model: field required")
        if fmt in ("openai", "anthropic", "ollama") and not isinstance(body.get("messages"), list):
            return 400, error_body(fmt, 400, "messages: an array is required")
        if fmt == "anthropic" and not isinstance(body.get("max_tokens"), int):
            return 400, error_body(fmt, 400, "max_tokens: Field required")
        if fmt == "gemini" and not isinstance(body.get("contents"), list):
            return 400, error_body(fmt, 400, "contents: an array is required")
        if fmt == "openai":
            if body.get("stream_options") is not None and not body.get("stream"):
                return 400, error_body(fmt, 400, "The 'stream_options' parameter is only "
                                       "allowed when 'stream' is enabled.")
            rf = body.get("response_format") or {}
            if rf.get("type") == "json_object" and "json" not in json.dumps(body["messages"]).lower():
                return 400, error_body(fmt, 400, "'messages' must contain the word 'json' in "
                                       "some form, to use 'response_format' of type 'json_object'.")
        return None

    def answer(self, fmt, model, stream, body, prompt, rule):
        behavior = rule.get("behavior")
        if behavior == "hang":
            return self.hang()
        status = rule.get("status")
        if status and status >= 400:
            headers = {}
            if rule.get("retry_after") is not None:
                headers["Retry-After"] = rule["retry_after"]
            body = error_body(fmt, status, f"scripted status {status}")
            if isinstance(rule.get("error"), dict) and isinstance(body.get("error"), dict):
                body["error"].update(rule["error"])
            elif isinstance(rule.get("error"), str):  # ollama's {"error": "..."}
                body["error"] = rule["error"]
            return self.send_json(status, body, headers)
        text = self.reply_text(rule)
        finish = rule.get("finish", "stop")
        usage = usage_of(rule, prompt, text)
        if stream:
            want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self.answer_stream(fmt, model, text, finish, usage, want_usage, rule)
        if behavior == "empty":
            return self.send_bytes(200, b"")
        payload = json.dumps(whole_reply(fmt, model, text, finish, usage, rule)).encode()
        if behavior == "malformed":
            return self.send_bytes(200, payload[: len(payload) // 2] + b"<<not json")
        if behavior == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            return self.drop()
        self.send_bytes(200, payload)

    def answer_stream(self, fmt, model, text, finish, usage, want_usage, rule):
        behavior = rule.get("behavior")
        ctype = "application/x-ndjson" if fmt == "ollama" else "text/event-stream"
        self.start_chunked(ctype)
        if behavior == "empty":
            return self.end_chunked()
        pieces = split(text, rule.get("chunk_chars", DEFAULT_CHUNK_CHARS))
        frames = stream_frames(fmt, model, pieces, finish, usage, want_usage, rule)
        if behavior == "malformed":
            frames.insert(len(frames) // 2, b"data: {\"choices\": [ not json\n\n")
        delay = rule.get("chunk_delay_ms", 0) / 1000.0
        stop_at = len(frames) // 2 if behavior == "drop" else len(frames)
        for frame in frames[:stop_at]:
            self.write_chunk(frame)
            if delay:
                time.sleep(delay)
        if behavior == "drop":
            return self.drop()
        self.end_chunked()

    def reply_text(self, rule):
        if rule.get("behavior") == "huge":
            mb = rule.get("huge_mb", DEFAULT_HUGE_MB)
            line = ("huge reply text to fill the response body. " * 24)[:1023] + "\n"  # 1 KiB
            return line * int(mb * 1024)
        reply = rule.get("reply", self.server.default_reply)
        return reply if isinstance(reply, str) else json.dumps(reply)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops SYNs when a test opens dozens at once


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", help="the API key clients must send (default: accept any)")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--scenario", help="JSON file of reply rules (see the top of this file)")
    ap.add_argument("--latency-ms", type=int, default=0, help="default wait before replies")
    ap.add_argument("--default-reply", default='{"ok": true}', help="reply when no rule matches")
    args = ap.parse_args(argv)

    server = Server(("127.0.0.1", 0), Handler)
    server.key = args.key
    server.latency_ms = args.latency_ms
    server.default_reply = args.default_reply
    server.recorder = Recorder(args.log)
    server.stopping = threading.Event()
    rules = []
    if args.scenario:
        with open(args.scenario, encoding="utf-8") as f:
            rules = json.load(f)
    server.scenario = Scenario(rules)

    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
