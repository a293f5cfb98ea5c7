"""A local emulator of the OpenAI Videos API (Sora 2), for development and tests.

It speaks the provider's protocol closely enough that the official ``openai`` SDK works
against it unchanged, renders real MP4s, sends signed webhooks and injects faults on demand.
It is a dev tool: it is never packaged into a Lambda.
"""

from .app import EmulatorApp, TruncatedDownloadError, free_box_header
from .config import EmulatorConfig
from .engine import Emulator
from .receiver import ReceivedWebhook, WebhookReceiver
from .render import RenderSpec, render_assets
from .server import EmulatorServer

__all__ = [
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorServer",
    "ReceivedWebhook",
    "RenderSpec",
    "TruncatedDownloadError",
    "WebhookReceiver",
    "free_box_header",
    "render_assets",
]
