from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings


def test_layers_override_in_order(tmp_path: Path):
    (tmp_path / "rag.toml").write_text('top_k = 7\nretrieval_mode = "dense"\nmax_new_tokens = 100\n', encoding="utf-8")
    env = {"RAG_TOP_K": "9", "RAG_MMR": "true"}
    s = Settings.load(tmp_path, {"max_new_tokens": 50, "top_k": None}, environ=env)
    assert s.kb_dir == tmp_path
    assert s.retrieval_mode == "dense"  # file
    assert s.top_k == 9  # environment beats file
    assert s.mmr is True
    assert s.max_new_tokens == 50  # explicit beats everything


def test_bad_values_name_the_setting(tmp_path: Path):
    with pytest.raises(ConfigError, match="RAG_TOP_K: top_k expects int"):
        Settings.load(tmp_path, environ={"RAG_TOP_K": "many"})
    with pytest.raises(ConfigError, match="top_k must be greater than 0. Currently, top_k is 0"):
        Settings.load(tmp_path, {"top_k": 0}, environ={})
    with pytest.raises(ConfigError, match="repeat_penalty must be a finite number greater than 0. Currently, repeat_penalty is -1"):
        Settings.load(tmp_path, environ={"RAG_REPEAT_PENALTY": "-1"})
    with pytest.raises(ConfigError, match="repeat_penalty must be a finite number greater than 0. Currently, repeat_penalty is inf"):
        Settings.load(tmp_path, environ={"RAG_REPEAT_PENALTY": "1e309"})
    with pytest.raises(ConfigError, match="chinese_synonyms must be one of cilin, none. Currently, it is 'hownet'"):
        Settings.load(tmp_path, {"chinese_synonyms": "hownet"}, environ={})
    (tmp_path / "rag.toml").write_text("colour = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings.load(tmp_path, environ={})


def test_kb_dir_from_environment():
    assert Settings.load(None, environ={"RAG_KB_DIR": "/tmp/elsewhere"}).kb_dir == Path("/tmp/elsewhere")
