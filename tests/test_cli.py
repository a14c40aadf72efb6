import subprocess
import sys

from click.testing import CliRunner

from rag.cli import main
from tests.conftest import REPO, SAMPLE_DOCS


def test_help_does_not_load_torch():
    code = "import sys; from rag.cli import main; import rag; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    result = subprocess.run([sys.executable, "-m", "rag.cli", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "ingest" in result.stdout and "ask" in result.stdout


def test_ingest_search_info_list_remove(tmp_path):
    runner = CliRunner()
    kb = str(tmp_path / "kb")
    result = runner.invoke(main, ["ingest", str(SAMPLE_DOCS), "--kb", kb])
    assert result.exit_code == 0, result.output
    assert "added 7" in result.output and "time by stage" in result.output
    result = runner.invoke(main, ["search", "forklift speed limit inside buildings", "--kb", kb, "-k", "2"])
    assert result.exit_code == 0 and "safety_handbook.md" in result.stdout.splitlines()[0]
    result = runner.invoke(main, ["kb", "info", "--kb", kb])
    assert "7 indexed" in result.output and "all-MiniLM-L6-v2" in result.output
    result = runner.invoke(main, ["kb", "list", "--kb", kb])
    assert result.stdout.count("indexed") == 7
    result = runner.invoke(main, ["kb", "remove", "training_policy.docx", "--kb", kb])
    assert result.exit_code == 0 and "removed training_policy.docx (1 chunks)" in result.output


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["search", "anything", "--kb", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(main, ["ask", "irrelevant question about football", "--kb", str(tmp_path / "none")])
    assert result.exit_code == 1 and "not a knowledge base" in result.output


def test_chat_loop_follow_up_sources_reset_exit(tmp_path):
    import pytest

    pytest.importorskip("llama_cpp")
    runner = CliRunner()
    kb = str(tmp_path / "kb")
    assert runner.invoke(main, ["ingest", str(SAMPLE_DOCS), "--kb", kb]).exit_code == 0
    script = ("x" * 2500 + "\nHow often must the QF-200 bearings be re-greased?\nAnd how much grease each time?\n/sources\n"
              "/reset\n\n/exit\n")
    result = runner.invoke(main, ["chat", "--kb", kb], input=script)
    assert result.exit_code == 0, result.output
    assert "15" in result.stdout and "*[1] maintenance_procedures.pdf:1" in result.stdout
    assert "(conversation cleared)" in result.stdout
    assert "Error: the question is 2,500 characters long" in result.output  # that turn ends, the chat goes on
    listed = runner.invoke(main, ["chat", "--kb", kb, "--list"])
    assert "How often must the QF-200 bearings be re-greased?" in listed.stdout


def test_serve_on_a_missing_kb_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--kb", str(tmp_path / "none")])
    assert result.exit_code == 1 and "not a knowledge base" in result.output and "Traceback" not in result.output


def test_bad_port_is_a_usage_error():
    for command in (["serve"], ["ui"]):
        result = CliRunner().invoke(main, [*command, "--port", "99999"])
        assert result.exit_code == 2 and "99999 is not in the range 1<=x<=65535" in result.output


def test_tags_compact_and_migrate_from_the_command_line(tmp_path):
    runner = CliRunner()
    kb = str(tmp_path / "kb")
    result = runner.invoke(main, ["ingest", str(SAMPLE_DOCS), "--kb", kb, "--tag", "handbook"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["search", "hot work permit", "--kb", kb, "--tag", "handbook", "--json"])
    assert result.exit_code == 0 and result.stdout.strip(), result.output
    result = runner.invoke(main, ["search", "hot work permit", "--kb", kb, "--tag", "other", "--json"])
    assert result.exit_code == 0 and not result.stdout.strip(), result.output
    result = runner.invoke(main, ["kb", "remove", "training_policy.docx", "--kb", kb])
    result = runner.invoke(main, ["kb", "info", "--kb", kb])
    # Chinese prose gets no vector from the English-only model (keywords find it): 6 of the 20 chunks.
    assert "vectors:     14 in faiss, index auto; segments: 1 flat" in result.output and "removed rows until" in result.output
    assert "6 chunks (Chinese prose) found by keywords alone" in result.output
    result = runner.invoke(main, ["kb", "compact", "--kb", kb])
    assert result.exit_code == 0 and "removed rows dropped: 1" in result.output, result.output
    result = runner.invoke(main, ["kb", "migrate", "--to", "milvus", "--kb", kb])
    assert result.exit_code == 0 and "moved 14 vectors to milvus" in result.output, result.output
    result = runner.invoke(main, ["kb", "info", "--kb", kb])
    assert "vectors:     14 in milvus at " in result.output
    result = runner.invoke(main, ["kb", "migrate", "--to", "milvus", "--kb", kb])
    assert result.exit_code == 1 and "already keeps its vectors in milvus" in result.output
