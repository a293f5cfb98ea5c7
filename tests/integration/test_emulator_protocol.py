"""Protocol details below what the SDK exercises, the admin API, and the server itself."""

from __future__ import annotations

import base64
import http.client
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from videojobs_local.emulator import EmulatorConfig, EmulatorServer


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


# --- create -----------------------------------------------------------------------------------


def test_json_create_accepts_integer_seconds(emulator_http: httpx.Client) -> None:
    response = emulator_http.post(
        "/v1/videos", json={"prompt": "x", "seconds": 8, "model": "sora-2-pro", "size": "1024x1792"}
    )

    assert response.status_code == 200
    assert (response.json()["seconds"], response.json()["size"]) == ("8", "1024x1792")


def test_multipart_create_without_a_file(emulator_http: httpx.Client) -> None:
    response = emulator_http.post(
        "/v1/videos", files={"prompt": (None, "x"), "seconds": (None, "12")}
    )

    assert response.status_code == 200
    assert response.json()["seconds"] == "12"


def test_input_reference_as_a_data_url(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10)).save(buffer, format="WEBP")
    data_url = "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode()

    response = emulator_http.post(
        "/v1/videos", json={"prompt": "x", "input_reference": {"image_url": data_url}}
    )

    reference = emulator.emulator.inspect(response.json()["id"])["input_reference"]
    assert (reference["content_type"], reference["width"], reference["height"]) == (
        "image/webp",
        20,
        10,
    )


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": "  "}, "prompt", "invalid_value"),
        ({"prompt": "x", "seconds": 6}, "seconds", "invalid_value"),
        ({"prompt": "x", "style": "noir"}, "style", "unknown_parameter"),
    ],
)
def test_bad_create_requests(
    emulator_http: httpx.Client, body: dict[str, object], param: str, code: str
) -> None:
    response = emulator_http.post("/v1/videos", json=body)

    assert response.status_code == 400
    error = _error(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_malformed_json_is_a_bad_request(emulator_http: httpx.Client) -> None:
    response = emulator_http.post(
        "/v1/videos", content=b"{nope", headers={"Content-Type": "application/json"}
    )

    assert (response.status_code, _error(response)["code"]) == (400, "invalid_json")


# --- auth, routing ----------------------------------------------------------------------------


def test_azure_style_api_key_header_is_accepted(emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=emulator.api_url) as client:
        ok = client.get("/videos", headers={"api-key": emulator.config.api_key})
        missing = client.get("/videos")

    assert ok.status_code == 200
    assert missing.status_code == 401
    assert _error(missing)["code"] == "invalid_api_key"


def test_admin_api_needs_no_key(emulator: EmulatorServer) -> None:
    assert httpx.get(emulator.url + "/_emulator/health").json() == {"status": "ok"}


def test_unknown_route_and_wrong_method(emulator_http: httpx.Client) -> None:
    unknown = emulator_http.get("/v1/images")
    wrong = emulator_http.put("/v1/videos")

    assert (unknown.status_code, _error(unknown)["code"]) == (404, "unknown_url")
    assert (wrong.status_code, _error(wrong)["code"]) == (405, "method_not_allowed")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_bad_variant(emulator: EmulatorServer, emulator_http: httpx.Client) -> None:
    video_id = emulator_http.post("/v1/videos", json={"prompt": "x"}).json()["id"]
    emulator.wait_for(video_id)

    response = emulator_http.get(f"/v1/videos/{video_id}/content", params={"variant": "gif"})

    assert (response.status_code, _error(response)["param"]) == (400, "variant")


# --- list -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "up"}, "order"),
        ({"after": "video_missing"}, "after"),
    ],
)
def test_bad_list_parameters(
    emulator_http: httpx.Client, params: dict[str, str], param: str
) -> None:
    response = emulator_http.get("/v1/videos", params=params)

    assert (response.status_code, _error(response)["param"]) == (400, param)


def test_list_cursor_survives_deleting_its_anchor(emulator_http: httpx.Client) -> None:
    ids = [emulator_http.post("/v1/videos", json={"prompt": f"{i}"}).json()["id"] for i in range(4)]
    page = emulator_http.get("/v1/videos", params={"limit": 2, "order": "asc"}).json()
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[0], ids[1], True)

    emulator_http.delete(f"/v1/videos/{page['last_id']}")
    rest = emulator_http.get(
        "/v1/videos", params={"limit": 2, "order": "asc", "after": page["last_id"]}
    ).json()

    assert [video["id"] for video in rest["data"]] == ids[2:]
    assert rest["has_more"] is False


# --- moderation -------------------------------------------------------------------------------


def test_moderation_shape(emulator_http: httpx.Client) -> None:
    response = emulator_http.post("/v1/moderations", json={"input": "calm [[flag]]"})

    body = response.json()
    assert body["id"].startswith("modr-")
    assert body["model"] == "omni-moderation-latest"
    [result] = body["results"]
    assert result["flagged"] is True
    assert set(result["categories"]) == set(result["category_scores"])
    assert emulator_http.post("/v1/moderations", json={}).status_code == 400


# --- admin API --------------------------------------------------------------------------------


def test_request_log_records_v1_requests_only(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator_http.get("/v1/videos", params={"limit": 5})
    emulator_http.get("/v1/videos/video_nope")
    emulator_http.get("/_emulator/stats")

    log = emulator_http.get("/_emulator/requests").json()

    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/v1/videos", "limit=5", 200),
        ("GET", "/v1/videos/video_nope", "", 404),
    ]
    assert all(isinstance(entry["time"], float) for entry in log)


def test_speed_can_change_while_running(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    emulator_http.post("/_emulator/config", json={"speed": 0.001})
    video_id = emulator_http.post("/v1/videos", json={"prompt": "x"}).json()["id"]
    time.sleep(0.1)
    assert emulator_http.get(f"/v1/videos/{video_id}").json()["status"] == "queued"

    emulator_http.post("/_emulator/config", json={"speed": 500})

    assert emulator.wait_for(video_id)["status"] == "completed"


# --- the server -------------------------------------------------------------------------------


def test_connections_are_kept_alive(emulator: EmulatorServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    headers = {"Authorization": f"Bearer {emulator.config.api_key}"}
    try:
        # A body the server never reads must not leak into the next request on the socket.
        connection.request("DELETE", "/v1/videos/video_nope", body=b"x" * 5000, headers=headers)
        first = connection.getresponse()
        first.read()
        first_socket = connection.sock
        connection.request("GET", "/v1/videos", headers=headers)
        second = connection.getresponse()
        second.read()
        second_socket = connection.sock
    finally:
        connection.close()

    assert (first.status, second.status) == (404, 200)
    assert first.will_close is False
    # http.client reconnects silently when the server closed: the same socket proves reuse.
    assert first_socket is not None and first_socket is second_socket
    assert emulator.stats()["requests"] == 2


def test_stop_closes_idle_connections_and_joins_threads(tmp_path: Path) -> None:
    server = EmulatorServer(EmulatorConfig(speed=500, render_cache_dir=tmp_path)).start()
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    idle.request("GET", "/_emulator/health")
    idle.getresponse().read()

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2
    idle.close()
    lingering = [t.name for t in threading.enumerate() if t.name.startswith("emulator-")]
    assert lingering == []


def test_module_runs_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: S603 - fixed argv, this interpreter
        [
            sys.executable,
            "-m",
            "videojobs_local.emulator",
            "--port",
            "0",
            "--speed",
            "100",
            "--cache-dir",
            str(tmp_path),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        api_url = first_line.split()[2]
        assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/v1")
        health = httpx.get(api_url.removesuffix("/v1") + "/_emulator/health", timeout=5)
        assert health.json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()
