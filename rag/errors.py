"""Errors the library raises; each message says what went wrong and what to do about it."""


class RagError(Exception):
    """Base class: the CLI prints these as one line, the page as st.error."""


class ConfigError(RagError):
    """A setting has a value the system cannot use."""


class KnowledgeBaseError(RagError):
    """The knowledge-base directory is missing, locked, damaged or built with other settings."""


class ManifestMismatchError(KnowledgeBaseError):
    """The knowledge base was built with a different embedding model or chunking than requested."""


class QuestionError(RagError, ValueError):
    """A question the system will not search for: empty, or longer than max_question_chars."""


class DocumentLoadError(RagError):
    """One input file could not be turned into text; ingest reports it and goes on."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelError(RagError):
    """A model could not be found, assembled, verified or loaded."""


class MissingDependencyError(RagError):
    """An optional dependency is not installed; the message names the pip command."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the package '{package}'. Install it with: pip install 'rag-kb[{extra}]'"
        )
