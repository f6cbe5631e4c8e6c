"""The translation service: a FastAPI app around a loaded :class:`~deployment.video_translation.VideoTranslator`.

- ``POST /translate``: a video as the multipart form field ``video`` -> JSON: the sentence, the
  glosses with their start and end (seconds) and score, the per-step gloss probabilities, and the
  seconds spent per stage (upload, decode, queue, s3d, translate).
- ``GET /health``: the model, the device, the queue and the limits.
- ``GET /``: the web page (``serving/static``).

Uploads are bounded in bytes (counted as they arrive, whatever the headers say) and the video in
seconds (read from its header before any frame is decoded). Videos are decoded in a small thread
pool; concurrent requests then share model calls through :class:`~serving.batching.MicroBatcher`.
Every bad request gets a 4xx with one ``{"error": ...}`` message and touches nothing else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from core.errors import ToolkitError
from dataset.video_reader import probe_video_file
from deployment.video_translation import DecodedVideo, Translation, Translator
from serving.batching import MicroBatcher, QueueFull

STATIC = Path(__file__).parent / "static"
logger = logging.getLogger("serving")


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may send and how requests are batched."""

    max_upload_mb: float = 50.0
    max_seconds: float = 60.0  # of video
    max_batch: int = 8
    max_wait_ms: float = 50.0  # how long a batch waits for more requests after its first
    max_queue: int = 32  # decoded videos waiting for the model; more are refused with 503
    decode_workers: int = 2

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class UploadLimit:
    """ASGI middleware: a request body over ``max_bytes`` ends in 413, counted as it arrives."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"error": self.message()}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.message())
            return message

        await self.app(scope, counted, send)

    def message(self) -> str:
        return f"the upload is larger than this service's limit of {self.max_bytes / 2**20:g} MB"


def create_app(translator: Translator, limits: ServiceLimits, description: dict[str, str | float]) -> FastAPI:
    """The service for ``translator``; ``description`` (model, device, ...) is what ``/health`` reports."""
    decoder = ThreadPoolExecutor(max_workers=limits.decode_workers, thread_name_prefix="decode")
    batcher: MicroBatcher[DecodedVideo, Translation] = MicroBatcher(
        lambda videos: translator.translate(videos), limits.max_batch, limits.max_wait_ms / 1000, limits.max_queue
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()
        decoder.shutdown(wait=True)

    app = FastAPI(title="Sign language translation", lifespan=lifespan)
    app.add_middleware(UploadLimit, max_bytes=limits.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    counts = {"translated": 0, "refused": 0}

    @app.exception_handler(HTTPException)
    async def one_message(_: Request, error: HTTPException) -> JSONResponse:
        counts["refused"] += 1
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> JSONResponse:
        """A request FastAPI could not read (e.g. ``video`` sent as a text field): the service's own form."""
        problem = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "request"
        if where == "video":
            message = "video: send the video as a file in the multipart form field 'video', not as text"
        else:
            message = f"{where}: {problem.get('msg', 'malformed request')}"
        return await one_message(request, HTTPException(422, message))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            **description,
            "queued": batcher.queue.qsize(),
            "batches": batcher.batches,
            **counts,
            "limits": dataclasses.asdict(limits),
        }

    @app.post("/translate")
    async def translate(video: UploadFile | None = File(None)) -> dict:  # noqa: B008 (FastAPI's idiom)
        received = time.perf_counter()
        if video is None:
            raise HTTPException(400, "no video: send the file as the multipart form field 'video'")
        name = video.filename or "upload"
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(prefix="slt-upload-") as folder:
            path = Path(folder) / f"video{_suffix(name)}"
            await loop.run_in_executor(decoder, _save, video, path, name)
            decoded = await loop.run_in_executor(decoder, _decode, translator, path, name, limits)
        try:
            batched = await batcher.submit(decoded)
        except QueueFull as error:
            raise HTTPException(503, f"busy: {error}; try again shortly", headers={"Retry-After": "1"}) from error
        except Exception as error:  # the model failed on this batch: a bug, not the upload's; the service goes on
            logger.exception("translating %s failed", name)
            message = f"{name}: translating failed ({type(error).__name__}); see the service's log"
            raise HTTPException(500, message) from error
        counts["translated"] += 1
        result = batched.result
        seconds = {"total": round(time.perf_counter() - received, 3), "queue": round(batched.queued, 3)}
        fields = {key: value for key, value in dataclasses.asdict(result).items() if key != "text"}
        return {
            **fields,
            "video": name,
            "sentence": result.text,
            "seconds": {**result.seconds, **seconds},
            "batch_size": batched.batch_size,
        }

    return app


def _suffix(name: str) -> str:
    """The upload's file suffix if it is a plain one (PyAV guesses some containers by it), else none."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def _save(upload: UploadFile, path: Path, name: str) -> None:
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    if path.stat().st_size == 0:
        raise HTTPException(400, f"{name}: the upload is empty")


def _decode(translator: Translator, path: Path, name: str, limits: ServiceLimits) -> DecodedVideo:
    """The video's frames as the model takes them; 422 naming ``name`` if it is not one or too long."""
    try:
        info = probe_video_file(path)
        if info.seconds > limits.max_seconds:
            raise HTTPException(
                422, f"{name}: {info.seconds:.1f} s of video; this service takes at most {limits.max_seconds:g} s"
            )
        return translator.read(str(path))
    except ToolkitError as error:
        raise HTTPException(422, str(error).replace(str(path), name)) from error
