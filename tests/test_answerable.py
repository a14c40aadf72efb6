import shutil

import pytest

from tests.conftest import SAMPLE_DOCS


@pytest.mark.parametrize(
    "question, missing",
    [
        ("How often must the QF-350 bearings be re-greased?", ("qf-350",)),  # in the KB, but not in the grease passage
        # its own section is near the best passage (the QF-200's temperature line) but under the threshold
        ("QF-350 的最高介质温度是多少？", ("qf-350",)),
        ("What is the speed limit for forklifts at the Shanghai plant?", ("Shanghai",)),  # nowhere in the KB
        ("上海工厂的动火作业许可证有效期是多久？", ("上海",)),
        ("VX-60 隔膜泵的最大出口压力是多少？", ("vx-60",)),
        ("How often must the QF-200 bearings be re-greased?", ()),
        ("QF-350 的电机有多大功率？", ()),  # the QF-350 passage holds it
        ("What is the speed limit for forklifts inside buildings at the Changzhou plant?", ()),
    ],
)
def test_names_the_passages_do_not_hold_refuse_the_question(sample_kb, question, missing):
    decision = sample_kb.answerability().decide(question, sample_kb.search(question, 5))
    assert decision.missing == missing, decision.reason
    assert decision.answerable is (not missing)


def test_filler_words_do_not_sink_a_verbose_question(sample_kb):
    plain = sample_kb.search("VX-40 隔膜泵的最大出口压力是多少？", 1)[0].relevance
    verbose = sample_kb.search("VX-40 隔膜泵的最大出口压力是多少？请详细说明一下。", 1)[0].relevance
    assert verbose == pytest.approx(plain, abs=0.02)


def test_an_uncertain_question_sends_only_passages_near_the_best_to_the_model(sample_kb):
    from rag.answerable import UNCERTAIN_SHARE_OF_BEST

    question = "VX-40 这款泵出口那边最高能顶到多大压力？"  # a paraphrase: uncertain
    hits = sample_kb.search(question, 5)
    decision = sample_kb.answerability().decide(question, hits)
    assert not decision.confident and decision.kept and "0.8 MPa" in decision.kept[0].chunk.text
    best = max(h.relevance for h in hits)
    assert all(h.relevance >= UNCERTAIN_SHARE_OF_BEST * best for h in decision.kept)
    assert len(decision.kept) < len([h for h in hits if h.relevance >= sample_kb.answerability().floor])


def test_a_confident_question_also_gets_passages_under_the_threshold_near_the_best(sample_kb):
    from rag.answerable import CONFIDENT_SHARE_OF_BEST

    # The English maintenance procedures match its words best; the Chinese spec sheet gives the rated flow.
    question = "What is the rated flow of the QF-200 pump?"
    hits = sample_kb.search(question, 5)
    check = sample_kb.answerability()
    decision = check.decide(question, hits)
    assert decision.confident
    assert any("120 m³/h" in h.chunk.text and h.relevance < check.threshold for h in decision.kept)
    best = max(h.relevance for h in hits)
    assert all(h.relevance >= min(check.threshold, CONFIDENT_SHARE_OF_BEST * best) for h in decision.kept)
    assert len(decision.kept) < len(hits)


def test_a_common_word_jieba_tags_as_a_place_is_not_a_name():
    from rag.text import KEYWORD_TOKENIZER_VERSION, KeywordTokenizer

    tokenizer = KeywordTokenizer(KEYWORD_TOKENIZER_VERSION)
    # jieba's dictionary tags 天冷 ("when it is cold") as a place; it must not refuse the question as a near-miss.
    assert tokenizer.names("天冷的时候，气温低到多少度这个电池柜还能往外供电？") == []
    assert tokenizer.names("上海工厂的动火作业许可证有效期是多久？") == ["上海"]
    # 东西 ("stuff") is frequent in jieba's dictionary and tagged ns there; Cilin files it under things only.
    assert tokenizer.names("在楼道里堆东西会被罚多少钱？") == []
    assert tokenizer.names("北京的东西贵吗？") == ["北京"]


def test_a_code_written_against_chinese_text_is_a_code():
    """"清风AP-80的适用面积是多少？" names the AP-80 (the KB holds the AP-60's manual): it must be found to be refused as
    a near-miss. A figure with its unit written against Chinese (功率55W) is no code."""
    from rag.text import KEYWORD_TOKENIZER_VERSION, KeywordTokenizer

    tokenizer = KeywordTokenizer(KEYWORD_TOKENIZER_VERSION)
    assert tokenizer.codes("清风AP-80的适用面积是多少？") == ["ap-80"]
    assert tokenizer.codes("机器上显示E3是怎么回事？") == ["e3"]
    assert tokenizer.codes("额定功率55W的机器") == []
    assert tokenizer.codes("What does the QF-200 need?") == ["qf-200"]


def test_a_month_is_no_name_and_a_common_word_tagged_as_a_place_may_be_written_apart(make_kb, tmp_path):
    """"My heating stopped working in January" names no place: the question was refused as a near-miss. jieba
    tags 石桥 ("stone bridge") as a place; a passage writing 三孔石拱桥 holds the bridge asked about."""
    from rag.text import KEYWORD_TOKENIZER_VERSION, KeywordTokenizer

    tokenizer = KeywordTokenizer(KEYWORD_TOKENIZER_VERSION)
    assert tokenizer.names("My heating stopped working in January. How quickly must the landlord act?") == []
    docs = tmp_path / "town"
    docs.mkdir()
    (docs / "town.md").write_text("镇上最有名的建筑是青溪桥，这是一座建于清代的三孔石拱桥，全长42米。", encoding="utf-8")
    kb = make_kb()
    kb.ingest([docs])
    check = kb.answerability()
    for question, missing in [("那座老石桥有多长？", ()), ("上海的三孔石拱桥全长多少米？", ("上海",))]:
        assert check.decide(question, kb.search(question, 3)).missing == missing


def test_words_people_ask_with_are_not_what_a_question_asks_about(sample_kb):
    """Pronouns, light verbs and "how long" are rare in documents, so they looked specific: a sentence holding
    "my" could stand in for the answer to "How long does a landlord have to put my deposit…"."""
    tokenizer = sample_kb.tokenizer
    for question, function_words in [("How long does a landlord have to put my deposit into a scheme?", "long put my"),
                                      ("这套规定从什么时候开始生效？", "这套 从 时候"),
                                      ("连着几天不来上班公司就可以把人辞退？", "着 几天 来")]:
        terms = set(tokenizer.tokenize(question))
        assert set(tokenizer.tokenize(function_words) if question.isascii() else function_words.split()) <= terms & tokenizer.filler_terms
    assert tokenizer.tokenize("deposit")[0] not in tokenizer.filler_terms


def test_in_a_small_kb_a_term_one_chunk_holds_is_specific(make_kb, tmp_path):
    """In a KB of ten chunks or fewer no term reaches SPECIFIC_IDF (one chunk of ten: idf 1.99), which left a
    one-document KB without the corrections that need what a question asks about; a term one chunk holds is
    specific there, a term every chunk holds is not."""
    from rag.answerable import SPECIFIC_IDF
    from rag.store.keyword import bm25_idf

    docs = tmp_path / "small"
    docs.mkdir()
    for name, text in [("a.md", "Records of the warehouse: invoices are kept for 7 years."),
                       ("b.md", "Records of the warehouse: tachograph data is kept for 2 years."),
                       ("c.md", "Records of the warehouse: CCTV footage is kept for 30 days.")]:
        (docs / name).write_text(text, encoding="utf-8")
    kb = make_kb()
    kb.ingest([docs])
    check = kb.answerability()
    tachograph, warehouse = kb.tokenizer.tokenize("tachograph warehouse")
    assert check.specific_terms([tachograph, warehouse]) == {tachograph}
    assert kb.info().chunks == 3 and bm25_idf(3, 1) < SPECIFIC_IDF  # the absolute cut would find none


def test_a_passage_about_a_sibling_only_is_not_sent_for_a_question_about_one_code(make_kb, tmp_path):
    """In the spec sheet alone the QF-200's section matches a QF-350 question almost as well as the QF-350's own
    (the same labels); the model read the QF-200's figure off it. A passage that names a sibling and not the code
    asked about is not kept."""
    docs = tmp_path / "spec"
    docs.mkdir()
    shutil.copy(SAMPLE_DOCS / "产品规格.txt", docs)
    kb = make_kb()
    kb.ingest([docs])
    question = "QF-350 的最高介质温度是多少？"
    hits = kb.search(question, 5)
    assert any("QF-200" in h.chunk.text and "QF-350" not in h.chunk.text and h.relevance >= kb.answerability().threshold
               for h in hits)  # the sibling's section is over the threshold
    decision = kb.answerability().decide(question, hits)
    assert decision.answerable and all("QF-350" in h.chunk.text for h in decision.kept)
