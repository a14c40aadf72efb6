"""Request and response models of the OpenAI chat-completions API, with the product's additions
(`sources`, `refused`, `standalone_question`) as extra fields that OpenAI clients pass through."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # clients send fields we have no use for (user, logprobs...)
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0, le=8192)
    max_completion_tokens: int | None = Field(default=None, gt=0, le=8192)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)


class SourceOut(BaseModel):
    number: int  # the [n] the answer cites
    file: str  # file name
    source: str  # full path on the server
    page: int | None
    section: str  # the headings the passage stands under, outermost first; "" for none
    start: int
    end: int
    snippet: str
    relevance: float
    cited: bool


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[SourceOut]
    refused: bool
    standalone_question: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag-kb"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
