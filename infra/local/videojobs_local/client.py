"""A small client for videojobs' own ``/v1`` API, used by the CLI and the demo.

Code already written for the official ``openai`` SDK works against the API as well; this
client exists so that the CLI needs nothing but httpx and shows our extensions (metadata,
assets, presets) without SDK gymnastics.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TERMINAL = frozenset({"completed", "failed", "cancelled"})
STATE_FILE = Path(".local") / "stack.json"
"""Where ``videojobs local up`` writes its state, relative to the directory it runs in."""


def _poll(
    fetch: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    interval: float,
    timeout: float,
    on_update: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Fetch until ``done``; ``on_update`` sees every answer (progress bars)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if on_update:
            on_update(answer)
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} still {answer['status']} after {timeout:.0f} s")
        time.sleep(interval)


class ApiError(Exception):
    """The API answered with an error body; ``status`` and the OpenAI error fields are kept."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        self.status = status
        self.message = str(error.get("message") or "request failed")
        self.type = error.get("type")
        self.param = error.get("param")
        self.code = error.get("code")
        super().__init__(f"HTTP {status}: {self.message}")


@dataclass(frozen=True)
class Endpoint:
    """Where the API is and which key to use."""

    api_url: str
    api_key: str

    @classmethod
    def from_state_file(cls, path: str | Path) -> Endpoint:
        state = json.loads(Path(path).read_text())
        return cls(api_url=state["api_url"], api_key=state["api_key"])

    @classmethod
    def resolve(cls, state_file: str | None) -> Endpoint:
        """``--state-file`` wins; else ``VIDEOJOBS_API_URL`` / ``VIDEOJOBS_API_KEY``; else the
        ``.local/stack.json`` that ``videojobs local up`` writes, found in the current
        directory or the nearest parent that has one."""
        if state_file:
            return cls.from_state_file(state_file)
        url = os.environ.get("VIDEOJOBS_API_URL")
        key = os.environ.get("VIDEOJOBS_API_KEY")
        if url and key:
            return cls(api_url=url, api_key=key)
        found = find_state_file(Path.cwd())
        if found is not None:
            return cls.from_state_file(found)
        raise SystemExit(
            "No endpoint: run `videojobs local up` in this directory (or a parent), set "
            "VIDEOJOBS_API_URL and VIDEOJOBS_API_KEY, or pass --state-file."
        )


def find_state_file(start: Path) -> Path | None:
    """``.local/stack.json`` in ``start`` or its nearest parent that has one."""
    for directory in (start, *start.parents):
        candidate = directory / STATE_FILE
        if candidate.is_file():
            return candidate
    return None


class VideojobsClient:
    """Synchronous client for ``/v1/videos``."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0) -> None:
        self._endpoint = endpoint
        self._http = httpx.Client(
            base_url=endpoint.api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {endpoint.api_key}"},
            timeout=timeout,
        )

    def __enter__(self) -> VideojobsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                error = response.json().get("error") or {}
            except ValueError:
                error = {"message": response.text[:200]}
            raise ApiError(response.status_code, error)
        return response

    def create(
        self,
        body: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        input_reference: Path | None = None,
    ) -> dict[str, Any]:
        """``POST /videos``: JSON, or multipart when an ``input_reference`` image is given."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        if input_reference is None:
            response = self._http.post("/videos", json=body, headers=headers)
        else:
            response = self._http.post(
                "/videos",
                data=_form_fields(body),
                files={
                    "input_reference": (
                        input_reference.name,
                        input_reference.read_bytes(),
                        _IMAGE_TYPES.get(
                            input_reference.suffix.lower(), "application/octet-stream"
                        ),
                    )
                },
                headers=headers,
            )
        result: dict[str, Any] = self._check(response).json()
        return result

    def remix(
        self, video_id: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``POST /videos/{id}/remix``: a new job from a completed video and a new prompt."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self._check(
            self._http.post(f"/videos/{video_id}/remix", json=body, headers=headers)
        ).json()
        return result

    def cancel(self, video_id: str) -> dict[str, Any]:
        """``POST /videos/{id}/cancel``: stop a running job and keep it; an ended job is
        answered as it is."""
        result: dict[str, Any] = self._check(self._http.post(f"/videos/{video_id}/cancel")).json()
        return result

    def get(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._check(self._http.get(f"/videos/{video_id}")).json()
        return result

    def list_videos(
        self,
        *,
        status: str | None = None,
        batch_id: str | None = None,
        limit: int | None = None,
        after: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """One page of ``GET /videos`` (the OpenAI list shape)."""
        params = {
            k: v
            for k, v in {
                "status": status,
                "batch_id": batch_id,
                "limit": limit,
                "after": after,
                "order": order,
            }.items()
            if v is not None
        }
        result: dict[str, Any] = self._check(self._http.get("/videos", params=params)).json()
        return result

    def delete(self, video_id: str) -> dict[str, Any]:
        """``DELETE /videos/{id}``: cancel the job if it runs, delete its files."""
        result: dict[str, Any] = self._check(self._http.delete(f"/videos/{video_id}")).json()
        return result

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._check(self._http.post("/video_batches", json=body)).json()
        return result

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._check(self._http.get(f"/video_batches/{batch_id}")).json()
        return result

    def wait_batch(
        self,
        batch_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 3600.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until every job of the batch has finished."""
        return _poll(
            lambda: self.get_batch(batch_id),
            lambda batch: batch["status"] == "completed",
            what=batch_id,
            interval=interval,
            timeout=timeout,
            on_update=on_update,
        )

    def wait(
        self,
        video_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 3600.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job is terminal; ``on_update`` sees every poll (progress bars)."""
        return _poll(
            lambda: self.get(video_id),
            lambda job: job["status"] in TERMINAL,
            what=video_id,
            interval=interval,
            timeout=timeout,
            on_update=on_update,
        )

    def download(self, video_id: str, destination: Path, *, variant: str = "video") -> int:
        """Save a variant to ``destination`` (follows the 302 to S3); returns bytes written."""
        response = self._check(
            self._http.get(f"/videos/{video_id}/content", params={"variant": variant})
        )
        location = response.headers.get("location")
        if response.status_code != 302 or not location:
            raise ApiError(response.status_code, {"message": "expected a redirect to the file"})
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        written = 0
        # The presigned URL carries its own authorisation: no API key goes to S3.
        with httpx.stream("GET", location, timeout=60.0) as stream:
            if stream.status_code != 200:
                raise ApiError(stream.status_code, {"message": "the file could not be fetched"})
            with partial.open("wb") as sink:
                for chunk in _chunks(stream):
                    sink.write(chunk)
                    written += len(chunk)
        partial.replace(destination)
        return written


_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


def _form_fields(body: dict[str, Any]) -> dict[str, str]:
    """A create body as multipart form fields (``metadata[key]`` for each metadata pair)."""
    fields = {name: str(value) for name, value in body.items() if name != "metadata"}
    for key, value in (body.get("metadata") or {}).items():
        fields[f"metadata[{key}]"] = str(value)
    return fields


def _chunks(stream: httpx.Response) -> Iterator[bytes]:
    yield from stream.iter_bytes(1024 * 1024)
