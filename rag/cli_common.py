"""What every `rag` command shares: errors as one line, the --kb option, the LLM options, settings."""
from __future__ import annotations

from functools import wraps
from pathlib import Path
from typing import Any, Callable

import click

from rag.errors import RagError
from rag.llm import LLM_BACKENDS
from rag.settings import Settings


def fail_cleanly(command: Callable) -> Callable:
    """Library errors become one line on stderr and exit code 1, not a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RagError as exc:
            raise click.ClickException(str(exc)) from exc
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


kb_option = click.option(
    "--kb", "kb_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Knowledge-base directory (default: $RAG_KB_DIR, else ./rag_kb).",
)


def settings_for(kb_dir: Path | None, **overrides: Any) -> Settings:
    return Settings.load(kb_dir, overrides)


def llm_options(command: Callable) -> Callable:
    """The options that choose and steer the LLM, shared by ask, chat and serve."""
    for option in reversed([
        click.option("--llm-backend", type=click.Choice(sorted(LLM_BACKENDS)), default=None,
                     help="auto (default): llama.cpp for GGUF models, else transformers."),
        click.option("--llm-model", default=None, help="LLM path, hub name, .gguf file or server model name."),
        click.option("--llm-base-url", default=None, help="Base URL of an OpenAI-compatible server."),
        click.option("--adapter", default=None, help="Fine-tuned adapter to answer with (see `rag adapters list`)."),
    ]):
        command = option(command)
    return command
