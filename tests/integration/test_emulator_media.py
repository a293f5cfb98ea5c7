"""The emulator's media: real, decodable files of the requested size and length."""

from __future__ import annotations

import io
import resource
import struct
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from videojobs_local.emulator import EmulatorServer, free_box_header

pytestmark = pytest.mark.slow

# Every size at 4 s, and each longer duration at least once on each orientation; every combo is
# encoded once per test worker thanks to the render cache.
COMBOS = [
    ("sora-2", "720x1280", "4"),
    ("sora-2", "1280x720", "4"),
    ("sora-2-pro", "1024x1792", "4"),
    ("sora-2-pro", "1792x1024", "4"),
    ("sora-2", "720x1280", "8"),
    ("sora-2", "1280x720", "12"),
    ("sora-2-pro", "1024x1792", "8"),
    ("sora-2-pro", "1792x1024", "12"),
]


def _complete(
    emulator: EmulatorServer, http: httpx.Client, prompt: str, **fields: str
) -> dict[str, object]:
    created = http.post(
        "/v1/videos",
        files={"prompt": (None, prompt)} | {key: (None, value) for key, value in fields.items()},
    )
    assert created.status_code == 200, created.text
    video = emulator.wait_for(created.json()["id"], timeout=60)
    assert video["status"] == "completed"
    return video


def _probe(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        width, height = video.width, video.height
        rate = float(video.average_rate or 0)
        frames = sum(1 for _ in container.decode(video))
        assert container.duration is not None
        assert audio.duration is not None and audio.time_base is not None
        return {
            "width": width,
            "height": height,
            "decoded_seconds": frames / rate,
            "container_seconds": container.duration / av.time_base,
            "audio_seconds": float(audio.duration * audio.time_base),
        }


@pytest.mark.parametrize(("model", "size", "seconds"), COMBOS)
def test_video_decodes_at_the_requested_size_and_length(
    emulator: EmulatorServer,
    emulator_http: httpx.Client,
    tmp_path: Path,
    model: str,
    size: str,
    seconds: str,
) -> None:
    video = _complete(emulator, emulator_http, "a harbour", model=model, size=size, seconds=seconds)

    download = emulator_http.get(f"/v1/videos/{video['id']}/content")
    path = tmp_path / "video.mp4"
    path.write_bytes(download.content)

    width, height = (int(part) for part in size.split("x"))
    probe = _probe(path)
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.content)
    assert (probe["width"], probe["height"]) == (width, height)
    for measured in ("decoded_seconds", "container_seconds", "audio_seconds"):
        assert abs(probe[measured] - int(seconds)) <= 0.1, (measured, probe)


@pytest.mark.parametrize(("model", "size", "seconds"), [COMBOS[1], COMBOS[6]])
def test_thumbnail_and_spritesheet_match_the_video(
    emulator: EmulatorServer, emulator_http: httpx.Client, model: str, size: str, seconds: str
) -> None:
    video = _complete(emulator, emulator_http, "a harbour", model=model, size=size, seconds=seconds)
    width, height = (int(part) for part in size.split("x"))

    thumbnail = emulator_http.get(f"/v1/videos/{video['id']}/content?variant=thumbnail")
    sprites = emulator_http.get(f"/v1/videos/{video['id']}/content?variant=spritesheet")

    thumb_image = Image.open(io.BytesIO(thumbnail.content))
    sheet_image = Image.open(io.BytesIO(sprites.content))
    assert (thumbnail.headers["content-type"], thumb_image.format) == ("image/webp", "WEBP")
    assert thumb_image.size == (width, height)
    assert (sprites.headers["content-type"], sheet_image.format) == ("image/jpeg", "JPEG")
    # Four columns, two tiles per second of video.
    tile_w, tile_h = sheet_image.size[0] // 4, sheet_image.size[1] // (int(seconds) * 2 // 4)
    assert abs(tile_w / tile_h - width / height) < 0.05


def test_same_size_length_and_look_renders_once(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    first = _complete(emulator, emulator_http, "the same prompt")
    before = emulator.stats()

    second = _complete(emulator, emulator_http, "the same prompt")

    after = emulator.stats()
    assert after["renders"] == before["renders"]
    assert after["render_cache_hits"] == before["render_cache_hits"] + 1
    one = emulator_http.get(f"/v1/videos/{first['id']}/content").content
    two = emulator_http.get(f"/v1/videos/{second['id']}/content").content
    assert one == two


def test_padding_appends_a_free_box_and_stays_decodable(
    emulator: EmulatorServer, emulator_http: httpx.Client, tmp_path: Path
) -> None:
    video = _complete(emulator, emulator_http, "padded")
    plain = emulator_http.get(f"/v1/videos/{video['id']}/content").content
    padding = 3 * 1024 * 1024 + 17

    emulator_http.post("/_emulator/config", json={"video_padding_bytes": padding})
    padded = emulator_http.get(f"/v1/videos/{video['id']}/content")

    assert int(padded.headers["content-length"]) == len(plain) + padding == len(padded.content)
    assert padded.content[: len(plain)] == plain
    size, box_type = struct.unpack(">I4s", padded.content[len(plain) : len(plain) + 8])
    assert (size, box_type) == (padding, b"free")
    path = tmp_path / "padded.mp4"
    path.write_bytes(padded.content)
    assert abs(_probe(path)["decoded_seconds"] - 4) <= 0.1
    thumbnail = emulator_http.get(f"/v1/videos/{video['id']}/content?variant=thumbnail")
    assert int(thumbnail.headers["content-length"]) == len(thumbnail.content) < padding


def test_half_a_gigabyte_is_streamed_not_buffered(
    emulator: EmulatorServer, emulator_http: httpx.Client
) -> None:
    video = _complete(emulator, emulator_http, "big")
    padding = 520 * 1024 * 1024
    emulator.update_config(video_padding_bytes=padding)
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    received = 0
    with emulator_http.stream("GET", f"/v1/videos/{video['id']}/content") as response:
        expected = int(response.headers["content-length"])
        for chunk in response.iter_raw():
            received += len(chunk)

    assert received == expected > padding
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib) / 1024
    assert growth_mib < 64


def test_free_box_header_switches_to_a_64_bit_size_above_4_gib() -> None:
    assert free_box_header(8) == struct.pack(">I4s", 8, b"free")
    large = 5 * 1024**3
    assert free_box_header(large) == struct.pack(">I4sQ", 1, b"free", large)
    with pytest.raises(ValueError):
        free_box_header(7)
