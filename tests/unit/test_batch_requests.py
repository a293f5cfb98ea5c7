"""Batch bodies: the three shapes expand into create bodies, every element is validated
before anything is written, errors name the element, and the batch view counts right."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from videojobs.logic import provider_access
from videojobs.logic.batches import batch_resource, plan_batch
from videojobs.models.batches import MAX_BATCH_JOBS, Batch
from videojobs.models.errors import InvalidRequestError
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.models.provider import ModerationResult
from videojobs.settings import get_settings
from videojobs_local.cli_client import UsageError, read_batch_file


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings as a deployment has them by default (no local-mode allowances)."""
    for name in ("VIDEOJOBS_LOCAL_MODE", "PROMPT_MAX_CHARS", "PRE_SUBMIT_MODERATION"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def refused(raw: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        plan_batch(raw)
    return caught.value


# --- the three shapes ------------------------------------------------------------------------


def test_a_list_of_requests_becomes_one_body_each_in_order() -> None:
    # Given two create bodies and batch-level metadata
    raw = {
        "requests": [
            {"prompt": "a red kite", "seconds": "8", "metadata": {"shot": "1"}},
            {"prompt": "a blue kite", "size": "1280x720"},
        ],
        "metadata": {"campaign": "spring"},
    }
    # When the batch is planned
    plan = plan_batch(raw)
    # Then each body is kept as sent, in order, and the metadata stays with the batch
    assert [b.prompt for b in plan.bodies] == ["a red kite", "a blue kite"]
    assert plan.bodies[0].seconds == "8"
    assert plan.bodies[0].metadata == {"shot": "1"}
    assert plan.bodies[1].size == "1280x720"
    assert plan.bodies[1].metadata == {}
    assert plan.metadata == {"campaign": "spring"}
    assert plan.callback_url is None


def test_a_prompt_with_n_becomes_n_identical_variations() -> None:
    # Given one prompt, n = 3 and a create field that applies to all
    raw = {"prompt": "a paper boat", "n": 3, "seconds": 8, "metadata": {"k": "v"}}
    # When the batch is planned
    plan = plan_batch(raw)
    # Then there are three equal bodies carrying the shared field but not the batch metadata
    assert len(plan.bodies) == 3
    assert all(b.prompt == "a paper boat" and b.seconds == "8" for b in plan.bodies)
    assert all(b.metadata == {} for b in plan.bodies)
    assert plan.metadata == {"k": "v"}


def test_a_brief_with_presets_becomes_one_body_per_preset() -> None:
    # Given a campaign brief for three platforms
    raw = {"brief": "our new running shoe", "presets": ["youtube", "tiktok", "linkedin"]}
    # When the batch is planned
    plan = plan_batch(raw)
    # Then each body carries the brief as its prompt and one preset, in the order given
    assert [b.preset for b in plan.bodies] == ["youtube", "tiktok", "linkedin"]
    assert {b.prompt for b in plan.bodies} == {"our new running shoe"}


def test_explicit_fields_of_a_campaign_apply_to_every_preset() -> None:
    plan = plan_batch({"brief": "shoe", "presets": ["youtube", "tiktok"], "seconds": "12"})
    assert [b.seconds for b in plan.bodies] == ["12", "12"]


def test_the_plan_holds_what_each_job_resolves_to() -> None:
    # Given a campaign whose presets differ in size and length, one length given explicitly
    plan = plan_batch({"brief": "shoe", "presets": ["youtube", "tiktok"], "duration": 4})
    # Then each job's request is what POST /v1/videos would make of it (what the batch costs)
    assert [(r.model, r.size, r.seconds) for r in plan.requests] == [
        ("sora-2", "1280x720", "4"),
        ("sora-2", "720x1280", "4"),
    ]
    assert all(r.prompt.startswith("shoe\n\n") for r in plan.requests)


def test_the_fingerprint_is_the_normalised_batch() -> None:
    # Variations and the same bodies listed out are one batch; anything different is not.
    variations = plan_batch({"prompt": "a boat", "n": 2, "metadata": {"k": "v"}})
    listed = plan_batch({"requests": [{"prompt": "a boat"}] * 2, "metadata": {"k": "v"}})
    assert variations.fingerprint() == listed.fingerprint()
    assert variations.fingerprint()["operation"] == "batch"
    for other in (
        {"prompt": "a boat", "n": 3, "metadata": {"k": "v"}},
        {"prompt": "a boat", "n": 2, "metadata": {"k": "w"}},
        {"prompt": "a boat", "n": 2, "metadata": {"k": "v"}, "seconds": "8"},
    ):
        assert plan_batch(other).fingerprint() != variations.fingerprint(), other


# --- errors name the element -----------------------------------------------------------------


def test_a_bad_field_in_one_request_names_its_index() -> None:
    # Given a batch whose fourth body asks for an impossible length
    requests: list[dict[str, Any]] = [{"prompt": f"shot {i}"} for i in range(5)]
    requests[3]["seconds"] = "7"
    # When it is planned, Then it is refused naming exactly that element's field
    error = refused({"requests": requests})
    assert error.param == "requests[3].seconds"
    assert "requests[3].seconds" in error.message


def test_an_unknown_field_in_a_request_is_refused_with_its_path() -> None:
    error = refused({"requests": [{"prompt": "a"}, {"prompt": "b", "colour": "red"}]})
    assert error.param == "requests[1].colour"
    assert error.message == "Unrecognized request argument supplied: requests[1].colour"


def test_a_size_the_model_cannot_render_names_the_element() -> None:
    # The check made after the model validates (size vs. model) is mapped to the element too.
    error = refused(
        {"requests": [{"prompt": "a"}, {"prompt": "b", "model": "sora-2", "size": "1792x1024"}]}
    )
    assert error.param == "requests[1].size"


def test_a_nested_metadata_problem_keeps_the_whole_path() -> None:
    error = refused({"requests": [{"prompt": "a", "metadata": {"k": 5}}]})
    assert error.param == "requests[0].metadata.k"


def test_a_request_that_is_not_an_object_is_refused() -> None:
    error = refused({"requests": [{"prompt": "a"}, "a string"]})
    assert error.param == "requests[1]"


def test_an_unknown_preset_names_its_position() -> None:
    error = refused({"brief": "shoe", "presets": ["youtube", "myspace"]})
    assert error.param == "presets[1]"


def test_a_preset_listed_twice_is_refused() -> None:
    error = refused({"brief": "shoe", "presets": ["tiktok", "youtube", "tiktok"]})
    assert error.param == "presets[2]"


def test_an_empty_brief_is_reported_as_the_brief() -> None:
    error = refused({"brief": "   ", "presets": ["tiktok"]})
    assert error.param == "brief"


def test_a_bad_shared_field_of_variations_names_the_field() -> None:
    error = refused({"prompt": "boat", "n": 2, "size": "10x10"})
    assert error.param == "size"


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"prompt": "boat", "n": 1}, "n"),
        ({"prompt": "boat", "n": MAX_BATCH_JOBS + 1}, "n"),
        ({"prompt": "boat", "n": True}, "n"),
        ({"prompt": "boat", "n": "3"}, "n"),
        ({"n": 3}, "prompt"),
        ({"brief": "shoe"}, "presets"),
        ({"presets": ["tiktok"]}, "brief"),
        ({"brief": "shoe", "presets": ["tiktok"], "prompt": "x"}, "prompt"),
        ({"brief": "shoe", "presets": ["tiktok"], "preset": "youtube"}, "preset"),
        ({"brief": "shoe", "presets": ["tiktok"], "n": 2}, "n"),
        ({"brief": "shoe", "presets": []}, "presets"),
        ({"requests": []}, "requests"),
        ({"requests": None}, "requests"),
        ({"brief": None, "presets": ["tiktok"]}, "brief"),
        ({"prompt": "boat", "n": None}, "n"),
        ({"requests": {"prompt": "a"}}, "requests"),
        ({"requests": [{"prompt": "a"}], "prompt": "b"}, "prompt"),
        ({"requests": [{"prompt": "a"}], "seconds": "4"}, "seconds"),
        ({"requests": [{"prompt": "a"}], "metadata": {"k": "v" * 513}}, "metadata.k"),
        (
            {"requests": [{"prompt": "a"}], "metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
        ),
    ],
)
def test_malformed_batches_are_refused_with_the_param(raw: dict[str, Any], param: str) -> None:
    assert refused(raw).param == param


@pytest.mark.parametrize(
    ("raw", "videos"),
    [
        ({"requests": [{"prompt": "a red kite"}], "brief": None}, 1),
        ({"requests": [{"prompt": "a red kite"}], "prompt": None, "n": None, "presets": None}, 1),
        ({"prompt": "a red kite", "n": 2, "brief": None, "presets": None, "requests": None}, 2),
        ({"brief": "a red kite", "presets": ["tiktok", "youtube"], "n": None, "prompt": None}, 2),
    ],
)
def test_a_shape_field_sent_as_null_is_one_not_sent(raw: dict[str, Any], videos: int) -> None:
    # Given a batch with the fields of another shape present but null (the document allows it)
    # When it is planned
    plan = plan_batch(raw)
    # Then it is the batch its non-null fields describe
    assert [body.prompt for body in plan.bodies] == ["a red kite"] * videos


def test_a_body_in_no_known_shape_explains_the_shapes() -> None:
    error = refused({"prompt": "boat"})
    assert error.param is None
    assert "requests" in error.message and "presets" in error.message


def test_more_requests_than_the_limit_are_refused() -> None:
    # Given one more request than a batch may hold
    raw = {"requests": [{"prompt": "a"}] * (MAX_BATCH_JOBS + 1)}
    # Then the batch is refused as a whole
    assert refused(raw).param == "requests"


def test_the_limit_itself_is_accepted() -> None:
    plan = plan_batch({"requests": [{"prompt": "a"}] * MAX_BATCH_JOBS})
    assert len(plan.bodies) == MAX_BATCH_JOBS


def test_the_batch_callback_url_follows_the_job_rules() -> None:
    # A plain-http callback is refused outside local mode, as it is for a single job.
    assert refused({"prompt": "boat", "n": 2, "callback_url": "http://example.com/hook"}).param == (
        "callback_url"
    )


# --- the batch view --------------------------------------------------------------------------


def job(job_id: str, status: JobStatus, progress: int = 0, at: int = 100) -> Job:
    return Job(
        job_id=job_id,
        tenant_id="t",
        status=status,
        created_at=at,
        updated_at=at,
        completed_at=at if status is JobStatus.COMPLETED else None,
        request=VideoRequest(prompt="p"),
        progress=progress,
        batch_id="vbatch_" + "0" * 32,
    )


def batch(total: int, **changes: Any) -> Batch:
    return Batch(
        batch_id="vbatch_" + "0" * 32,
        tenant_id="t",
        created_at=50,
        total=total,
        job_ids=[f"j{i}" for i in range(total)],
        **changes,
    )


def test_a_running_batch_counts_each_status_and_averages_progress() -> None:
    # Given four jobs: one completed, one failed, one halfway, one queued
    jobs = [
        job("j0", JobStatus.COMPLETED, 100),
        job("j1", JobStatus.FAILED, 10),
        job("j2", JobStatus.IN_PROGRESS, 50),
        job("j3", JobStatus.QUEUED),
    ]
    # When the batch is viewed
    view = batch_resource(batch(4), jobs)
    # Then finished jobs count as 100 %, the running one by its progress
    assert view.status == "in_progress"
    assert view.completed_at is None
    assert view.counts.model_dump() == {
        "queued": 1,
        "in_progress": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert view.percent_complete == (100 + 100 + 50 + 0) // 4
    assert view.job_ids == ["j0", "j1", "j2", "j3"]


def test_a_batch_whose_jobs_all_ended_is_completed() -> None:
    jobs = [job("j0", JobStatus.COMPLETED, at=120), job("j1", JobStatus.CANCELLED, at=130)]
    view = batch_resource(batch(2), jobs)
    assert view.status == "completed"
    assert view.percent_complete == 100
    assert view.completed_at == 130
    assert view.counts.cancelled == 1


def test_a_batch_marked_completed_shows_when() -> None:
    jobs = [job("j0", JobStatus.COMPLETED, at=120)]
    view = batch_resource(batch(1, completed_at=125), jobs)
    assert (view.status, view.completed_at) == ("completed", 125)


def test_a_batch_never_shows_100_percent_before_it_ends() -> None:
    jobs = [job("j0", JobStatus.COMPLETED), job("j1", JobStatus.IN_PROGRESS, 100)]
    assert batch_resource(batch(2), jobs).percent_complete == 99


# --- the CLI's batch files -------------------------------------------------------------------


def test_a_json_lines_file_becomes_a_list_of_requests() -> None:
    text = '{"prompt": "a"}\n\n{"prompt": "b", "seconds": "8"}\n'
    assert read_batch_file(text) == {"requests": [{"prompt": "a"}, {"prompt": "b", "seconds": "8"}]}


def test_a_json_batch_body_is_sent_as_it_is() -> None:
    body = '{"brief": "shoe", "presets": ["tiktok", "youtube"]}'
    assert read_batch_file(body) == {"brief": "shoe", "presets": ["tiktok", "youtube"]}


def test_a_json_list_or_a_single_create_body_becomes_requests() -> None:
    assert read_batch_file('[{"prompt": "a"}]') == {"requests": [{"prompt": "a"}]}
    assert read_batch_file('{"prompt": "a"}') == {"requests": [{"prompt": "a"}]}
    assert read_batch_file('{"prompt": "a", "n": 2}') == {"prompt": "a", "n": 2}


@pytest.mark.parametrize("text", ["", "  \n", '{"prompt": "a"}\nnot json\n', "42"])
def test_an_unreadable_batch_file_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        read_batch_file(text)


# --- moderation within the API's time ---------------------------------------------------------


class SlowModeration:
    """A moderation endpoint that takes 4 s an answer, on a fake clock."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.texts: list[str] = []
        self.max_waits: list[float] = []

    def moderate(self, text: str) -> ModerationResult:
        self.texts.append(text)
        self.clock[0] += 4.0
        return ModerationResult(flagged=False)


def test_a_large_batch_stops_pre_checking_prompts_when_its_time_for_them_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given pre-submit moderation on, and a moderation endpoint taking 4 s an answer
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    fake = SlowModeration(clock)

    def get_provider(*, max_wait_seconds: float = 20.0, leave_reserve: bool = False) -> Any:
        fake.max_waits.append(max_wait_seconds)
        return fake

    monkeypatch.setattr(provider_access, "get_provider", get_provider)
    monkeypatch.setenv("PRE_SUBMIT_MODERATION", "true")
    get_settings.cache_clear()

    # When a batch of six distinct prompts is planned
    plan = plan_batch({"requests": [{"prompt": f"kite {n}"} for n in range(6)]})

    # Then every element is resolved, but only the prompts that fit the batch's moderation
    # time were pre-checked (at 0, 4 and 8 s of 10), each waiting no longer than what was left
    assert len(plan.resolved) == 6
    assert fake.texts == ["kite 0", "kite 1", "kite 2"]
    assert fake.max_waits == [5.0, 5.0, 2.0]
