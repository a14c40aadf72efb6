import pytest

from ingest.split import TokenSplitter
from ingest.types import Page
from rag.errors import ConfigError


def test_chunks_fit_the_model_and_offsets_index_the_page(minilm):
    text = ("青山流体系统有限公司的离心泵需要定期维护。轴承每运行两千小时加注一次润滑脂；机械密封泄漏超标时必须更换！" * 30
            + "\n\nThe QF-200 bearings must be re-greased every 2,000 hours. " * 20)
    splitter = TokenSplitter(minilm.count_tokens, 120, 20, minilm.max_tokens)
    chunks = splitter.split([Page(text, number=3)], doc_id="d1", source="/x/doc.txt")
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert minilm.count_tokens(chunk.text) <= 120
        assert chunk.page == 3 and chunk.source == "/x/doc.txt"
    # Chinese sentences end at their punctuation, not in the middle of a word.
    assert any(c.text.endswith(("。", "！", "；")) for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_same_input_gives_same_chunk_ids(minilm):
    splitter = TokenSplitter(minilm.count_tokens, 50, 10, minilm.max_tokens)
    page = [Page("Alpha beta gamma. " * 40)]
    assert [c.chunk_id for c in splitter.split(page, "d", "s")] == [c.chunk_id for c in splitter.split(page, "d", "s")]


def test_chunk_longer_than_model_reads_is_refused(minilm):
    with pytest.raises(ConfigError, match="must not exceed what the embedding model reads"):
        TokenSplitter(minilm.count_tokens, 600, 10, minilm.max_tokens)
