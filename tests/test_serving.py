"""The translation service on a real HTTP server: answers, limits, bad uploads and batching (serving/app.py)."""

from __future__ import annotations

import threading

import httpx
import pytest
import torch

from dataset.video_reader import probe_video_file, write_video_file
from serving.warm_up import warm_up

pytestmark = pytest.mark.slow


def short_toy_videos(service, count: int) -> list:
    """``count`` toy test videos within the service's 3 s limit."""
    videos = sorted(service.videos.glob("*.mp4"))
    return [path for path in videos if probe_video_file(path).seconds <= 3][:count]


def post(service, path, name: str | None = None) -> httpx.Response:
    with open(path, "rb") as handle:
        return httpx.post(f"{service.url}/translate", files={"video": (name or path.name, handle)}, timeout=60)


def test_health_reports_the_model_and_limits(service):
    health = httpx.get(f"{service.url}/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny" and health["device"] == "cpu"
    assert health["limits"]["max_seconds"] == 3 and health["limits"]["max_batch"] == 4


def test_a_video_gets_its_sentence_timed_glosses_and_stage_times(service):
    (path,) = short_toy_videos(service, 1)
    answer = post(service, path).json()
    expected = service.translator(str(path))
    assert (answer["sentence"], answer["glosses"]) == (expected.text, expected.glosses)
    assert answer["video"] == path.name and answer["duration"] == pytest.approx(probe_video_file(path).seconds)
    assert [span["gloss"] for span in answer["spans"]] == answer["glosses"].split()
    assert len(answer["times"]) == len(answer["probabilities"]["<blank>"]) > 0
    assert {"decode", "queue", "s3d", "translate", "total"} <= set(answer["seconds"])
    assert answer["batch_size"] >= 1


def test_the_page_and_its_scripts_are_served(service):
    page = httpx.get(service.url)
    assert page.status_code == 200 and '<canvas id="plot"' in page.text
    assert 'fetch("/translate"' in httpx.get(f"{service.url}/static/page.js").text


def chunked_form(name: str, data: bytes) -> dict:
    """httpx.post arguments for a multipart upload sent in chunks, without a Content-Length header."""
    head = f'--b\r\nContent-Disposition: form-data; name="video"; filename="{name}"\r\n\r\n'.encode()
    body = head + data + b"\r\n--b--\r\n"
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    return {"content": chunks, "headers": {"content-type": "multipart/form-data; boundary=b"}}


def bad_uploads(tmp_path) -> list[tuple[str, dict, int, str]]:
    """(what, httpx.post arguments, status, message fragment) for each kind of bad upload."""
    (tmp_path / "notes.mp4").write_text("a text file, not a video")
    long_video = tmp_path / "long.mp4"
    write_video_file(torch.zeros(100, 32, 32, 3, dtype=torch.uint8), long_video, fps=25)  # 4 s
    large = b"\0" * (1024 * 1024 + 1)
    return [
        ("not a video", {"files": {"video": ("notes.mp4", (tmp_path / "notes.mp4").read_bytes())}}, 422,
         "notes.mp4: not a readable video"),
        ("too long", {"files": {"video": ("long.mp4", long_video.read_bytes())}}, 422,
         "long.mp4: 4.0 s of video; this service takes at most 3 s"),
        ("empty", {"files": {"video": ("empty.mp4", b"")}}, 400, "empty.mp4: the upload is empty"),
        ("text, not a file", {"data": {"video": "x"}}, 422, "send the video as a file in the multipart form field"),
        ("no file", {"data": {"other": "x"}}, 400, "no video: send the file as the multipart form field 'video'"),
        ("too large", {"files": {"video": ("big.mp4", large)}}, 413, "larger than this service's limit of 1 MB"),
        ("too large, no length given", chunked_form("big.mp4", large), 413, "larger than this service's limit of 1 MB"),
    ]  # fmt: skip


def test_each_bad_upload_gets_one_clear_4xx_and_the_service_goes_on(service, tmp_path):
    (good,) = short_toy_videos(service, 1)
    for what, arguments, status, message in bad_uploads(tmp_path):
        response = httpx.post(f"{service.url}/translate", timeout=60, **arguments)
        assert (response.status_code, list(response.json())) == (status, ["error"]), what
        assert message in response.json()["error"], what
        assert post(service, good).status_code == 200, f"after {what}"


def test_concurrent_requests_share_model_calls_and_bad_ones_spoil_none(service, tmp_path):
    videos = short_toy_videos(service, 4)
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x01 not a video")
    paths = [*videos, tmp_path / "junk.mp4"]
    answers: dict[int, httpx.Response] = {}
    before = httpx.get(f"{service.url}/health").json()["batches"]

    def send(index: int) -> None:
        answers[index] = post(service, paths[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers[len(videos)].status_code == 422
    results = [answers[i].json() for i in range(len(videos))]
    assert max(result["batch_size"] for result in results) > 1
    assert httpx.get(f"{service.url}/health").json()["batches"] - before < len(videos)
    for path, result in zip(videos, results, strict=True):  # batched, each says what it says alone
        alone = service.translator(str(path))
        assert (result["sentence"], result["glosses"]) == (alone.text, alone.glosses)


def test_a_model_failure_is_one_500_message_and_the_next_request_is_served(service, monkeypatch):
    (path,) = short_toy_videos(service, 1)
    translate = service.translator.translate

    def fails_once(videos):
        monkeypatch.setattr(service.translator, "translate", translate)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(service.translator, "translate", fails_once)
    failed = post(service, path)
    assert failed.status_code == 500
    assert failed.json() == {"error": f"{path.name}: translating failed (RuntimeError); see the service's log"}
    assert post(service, path).status_code == 200


def test_warm_up_translates_a_grey_clip_read_as_an_upload_is(service, monkeypatch):
    translator, batches = service.translator, []
    translate = translator.translate
    monkeypatch.setattr(translator, "translate", lambda videos: batches.append(videos) or translate(videos))
    assert warm_up(translator, seconds=0.5) > 0
    ((video,),) = batches  # one batch of one video: 12 frames at 25 fps, at the model's input size
    assert video.available == 12 and video.fps == 25 and video.path.endswith("warm-up.mp4")
    assert video.frames.shape[1:] == (translator.preprocessing.config.img_size,) * 2 + (3,)
