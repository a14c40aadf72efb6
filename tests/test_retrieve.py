from pathlib import Path

import pytest

from rag.retrieve import SearchFilter, mmr
from rag.text import KEYWORD_TOKENIZER_WORDS, KeywordTokenizer

import numpy as np


def test_english_question_finds_the_pdf_page(sample_kb):
    hits = sample_kb.search("How often must the QF-200 bearings be re-greased?", 3)
    top = hits[0].chunk
    assert Path(top.source).name == "maintenance_procedures.pdf" and top.page == 1
    assert "2,000 operating hours" in top.text
    # The question copies the document's words: its passage clears the threshold, so it is answered
    # without the uncertain band's support check.
    assert hits[0].relevance >= sample_kb.threshold
    # Fusion: the passage both retrievers rank first comes first, and the hits are distinct chunks.
    retriever = sample_kb.retriever()
    question = "How often must the QF-200 bearings be re-greased?"
    dense = retriever.store.search_vectors(retriever.embedder.embed_query(question), 1)
    keyword = retriever.store.search_keywords(retriever.tokenizer.tokenize(question), 1)
    assert dense[0][0] == keyword[0][0] == top.row_id
    assert len({h.chunk.row_id for h in hits}) == 3


def test_chinese_question_finds_the_chinese_spec(sample_kb):
    hits = sample_kb.search("VX-40 隔膜泵的最大出口压力是多少？", 3)
    assert Path(hits[0].chunk.source).name == "产品规格.txt"
    assert "0.8 MPa" in hits[0].chunk.text


def test_traditional_chinese_question_finds_simplified_document(sample_kb):
    hits = sample_kb.search("動火作業許可證的有效期是多久？", 3)
    assert Path(hits[0].chunk.source).name == "安全规程.md" and "8 小时" in hits[0].chunk.text


def test_fusion_leans_on_keywords_for_chinese_with_an_english_only_model(sample_kb):
    retriever = sample_kb.retriever()
    dense_zh, keyword_zh = retriever.fusion_weights("动火作业许可证的有效期是多久？")
    dense_en, keyword_en = retriever.fusion_weights("How long is a hot-work permit valid?")
    assert dense_zh < keyword_zh and dense_en == keyword_en


def test_source_filter_restricts_results(sample_kb):
    hits = sample_kb.search("safety training hours", 5, SearchFilter(source_glob="*.docx"))
    assert hits and all(h.chunk.source.endswith(".docx") for h in hits)
    assert sample_kb.search("safety", 5, SearchFilter(source_glob="*.xlsx")) == []


def test_unrelated_question_scores_below_threshold(sample_kb):
    hits = sample_kb.search("What is the capital of Australia?", 5)
    assert all(h.relevance < sample_kb.threshold for h in hits)


def test_keyword_tokenizer_normalises_width_script_and_case():
    tok = KeywordTokenizer()
    assert tok.tokenize("ＱＦ－２００") == tok.tokenize("qf-200") == ["qf-200", "qf", "200"]
    assert set(tok.tokenize("動火作業")) == set(tok.tokenize("动火作业"))
    assert tok.tokenize("Bearings bearing") == ["bear", "bear"]


def test_chinese_grams_cover_characters_and_pairs_but_not_filler():
    tok = KeywordTokenizer()
    assert tok.grams("安全通道") == ["#安", "#全", "#通", "#道", "#安全", "#全通", "#通道"]
    assert tok.grams("QF-200 pump") == []
    # Filler words give no grams, and no pair spans them.
    grams = tok.grams("请详细说明一下通道宽度", tok.filler_terms)
    assert "#通道" in grams and not any(c in g for g in grams for c in "请详细说明")
    assert "#明通" not in grams
    # A KB made before grams keeps its words-only terms.
    assert KeywordTokenizer(KEYWORD_TOKENIZER_WORDS).grams("安全通道") == []


def test_chinese_counting_numerals_match_the_documents_digits():
    tok = KeywordTokenizer()
    assert {"2", "米"} <= set(tok.tokenize("站在两米高的地方")) and {"2", "米"} <= set(tok.tokenize("距坠落基准面 2 米"))
    assert "12" in tok.tokenize("第十二条") and "35" in tok.tokenize("三十五名员工")
    # Not a count, or part of a larger number: left as written.
    assert tok.tokenize("统一年度计划") == KeywordTokenizer(KEYWORD_TOKENIZER_WORDS).tokenize("统一年度计划")
    assert "20" not in tok.tokenize("一百二十米")
    assert "2" not in KeywordTokenizer(KEYWORD_TOKENIZER_WORDS).tokenize("两米")  # KBs made before keep their terms


def test_a_chinese_paraphrase_finds_its_passage_by_shared_characters(sample_kb):
    question = "逃生用的过道最窄可以留多宽？"  # the document: 安全通道宽度不得小于 1.2 米
    retriever = sample_kb.retriever()
    assert retriever.store.search_keywords(retriever.tokenizer.tokenize(question), 5) == [] or not any(
        "1.2 米" in c.text for c in retriever.store.chunks([r for r, _ in retriever.store.search_keywords(
            retriever.tokenizer.tokenize(question), 5)]).values())
    hits = sample_kb.search(question, 3)
    assert any("1.2 米" in h.chunk.text for h in hits)
    assert hits[0].relevance < sample_kb.threshold  # found, but not proof of an answer: no shared word


def _kb_of(make_kb, folder: Path, files: dict[str, str], **settings):
    """A KB of small documents written for one test."""
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    kb = make_kb(**settings)
    kb.ingest([folder])
    return kb


def test_a_chinese_word_written_with_a_character_inside_counts_as_held(make_kb, tmp_path):
    """Everyday Chinese shortens a written-out word by leaving out its middle (石桥 for 三孔石拱桥, 社保 for
    社会保险); the passage holding the long form covers the question's word. A character pair across two
    of the question's words (镇修 of 古镇修好) is no word and finds nothing apart."""
    from rag.text import written_apart

    assert written_apart("石桥", "这是一座三孔石拱桥") and written_apart("社保", "按时缴纳社会保险")
    assert not written_apart("石桥", "石头，小桥") and not written_apart("民宿", "民居和商铺")
    # A word of three characters may leave out a word of two: 物业费 is a regulation's 物业服务费; a two-character
    # word only one (停水 is not found across 停止供水, nor in any two words).
    assert written_apart("物业费", "拖欠物业服务费的") and written_apart("业委会", "业主委员会")
    assert not written_apart("停水", "停止供水")
    kb = _kb_of(make_kb, tmp_path / "town", {"bridge.md": "镇上最有名的建筑是青溪桥，这是一座建于清代的三孔石拱桥，全长42米。",
                                             "inns.md": "镇上的老房子大多是明清时期的民居，游客可以入住改造后的客栈。"})
    question = "那座老石桥有多长？"
    assert "石桥" in kb.tokenizer.tokenize(question)
    ranked = kb.search(question, 2)
    hits = {Path(h.chunk.source).name: h for h in ranked}
    assert hits["bridge.md"].term_coverage > hits["inns.md"].term_coverage  # 0 against 老's share without it
    assert hits["bridge.md"].relevance == max(h.relevance for h in ranked)


def test_a_separable_chinese_word_said_with_a_count_inside_finds_the_passage_holding_it(make_kb, tmp_path):
    """Speech splits a verb-object word (离合词) around a count or a span of time: 停一天车 for 停车, 请三天假 for
    请假. jieba cuts the question 停 / 一天 / 车, so the passage on 停车费 shared no word with it."""
    from rag.text import separated_words

    words = {"停车", "请假", "加班", "天元"}.__contains__
    assert separated_words("开车过去，停一天车要多少钱？", words) == ["停车"]
    assert separated_words("请三个月假要谁批？", words) == ["请假"] and separated_words("加过两次班", words) == ["加班"]
    assert separated_words("停在车库", words) == [] and separated_words("每天20元", words) == []  # 在 separates nothing
    kb = _kb_of(make_kb, tmp_path / "town", {"parking.md": "自驾游客需将车辆停放在游客中心停车场，停车费每天20元。",
                                             "tickets.md": "古镇对游客免费开放，不收门票，周末限流每天3万人。"})
    hits = {Path(h.chunk.source).name: h for h in kb.search("开车过去，停一天车要多少钱？", 2)}
    assert hits["parking.md"].term_coverage > hits["tickets.md"].term_coverage, hits


@pytest.mark.parametrize("question, documents", [
    # jieba cuts 最晚一班 into 最 / 晚 / 一班, so the word a timetable writes for it (末班车) was never searched for.
    ("从云溪回青川最晚一班几点走？", {"answer.md": "开通初期每天开行24对，首班车6时30分从青川东站发车，末班车22时10分从云溪站发车。",
                                 "other.md": "青川东至云溪间，站站停列车运行时间约55分钟，直达列车最快38分钟。"}),
    # A traveller asks 买票 and 打几折, a timetable writes 购票 and 优惠: only 学生 was shared with the fares sentence.
    ("学生买票能打几折？", {"answer.md": "青川东至云溪二等座全价票56元。学生持学生证购票可享受二等座票价75%的优惠。",
                         "other.md": "学生证由学校统一办理，学生应在入学后一个月内到教务处领取。"}),
])
def test_an_everyday_word_finds_the_passage_writing_the_documents_word(make_kb, tmp_path, question, documents):
    hits = _kb_of(make_kb, tmp_path / "kb", documents).search(question, 2)
    assert Path(hits[0].chunk.source).name == "answer.md", hits


def test_everyday_words_jieba_cuts_apart_are_found_as_written():
    from rag.synonyms import everyday_words_in

    assert everyday_words_in("从云溪回青川最晚一班几点走？") == ["最晚一班"] and "年假" in everyday_words_in("一年能休几天年假？")


def test_a_chinese_question_in_everyday_words_finds_the_formal_passage_through_synonyms(make_kb, tmp_path):
    """A dog owner asks about 狗, the regulation writes 犬 and 犬只: no word or pair is shared, so the passage had
    no coverage and the question was refused before the model. Cilin's synonym group holds 狗 and 犬."""
    from rag.synonyms import CilinThesaurus

    thesaurus = CilinThesaurus()
    assert "犬" in thesaurus.synonyms("狗") and "他人" in thesaurus.synonyms("别人")
    assert thesaurus.synonyms("钱") == ()  # in several groups (money, coins, funds): no synonym out of context
    assert all(len(s) > 1 for s in thesaurus.synonyms("生育"))  # not 生, 产, 养: parts of any word
    rules = {"dogs.md": "第六条 办理养犬登记的，每只犬只收取登记费200元。", "cats.md": "第七条 办理登记证年检的，应当提前三十日提交证明。"}
    question = "给狗办证要交多少钱？"
    coverage = {}
    for setting in ("cilin", "none"):
        kb = _kb_of(make_kb, tmp_path / "rules", rules, chinese_synonyms=setting)
        coverage[setting] = {Path(h.chunk.source).name: h.term_coverage for h in kb.search(question, 2)}
    assert coverage["none"]["dogs.md"] == 0.0
    assert coverage["cilin"]["dogs.md"] > coverage["cilin"]["cats.md"]


def test_an_ask_word_finds_the_attribute_it_asks_for_and_a_noun_its_suffixless_form():
    """有多重 is answered by 重量, "how heavy" by "weight"; 柜子 is the 柜 of 电池柜; 镇子 the 镇 of 古镇. A word
    where 子 is part of it (儿子, 电子) keeps it, and an ask word of two meanings (多少度: ℃ or kWh) has none."""
    from rag.synonyms import other_words

    assert other_words("多重") == ("重量", "净重", "毛重") and other_words("多远") == ("距离", "间距")
    assert other_words("放多远") == ("距离", "间距")  # jieba glues the verb to the ask word
    assert other_words("柜子") == ("柜",) and other_words("镇子") == ("镇",)
    assert other_words("儿子") == () and other_words("电子") == () and other_words("多少度") == ()


def test_a_chinese_question_without_a_word_of_its_passage_finds_it_through_other_words(make_kb, tmp_path):
    """"这个柜子整台有多重？" shares no word with "电池柜重量 | 98 kg": its words 柜子 and 多重 are in no chunk, so
    they weighed as the rarest terms and every passage's coverage was 0; the question was refused unread. Now
    柜子 is held as the 柜 in 电池柜, 多重 as 重量, 多远 as 距离."""
    kb = _kb_of(make_kb, tmp_path / "cabinet", {"specs.md": "电池柜规格\n\n额定容量 | 10.24 kWh\n\n电池柜重量 | 98 kg",
                                                "install.md": "安装要求：柜体背面与墙面的距离不小于30 cm。",
                                                "charging.md": "充电时环境温度应在0 ℃到45 ℃之间，充电电流不大于50 A。"})
    for question, source in (("这个柜子整台有多重？", "specs.md"), ("柜子后背要跟墙隔开多远？", "install.md")):
        ranked = kb.search(question, 3)
        best = max(ranked, key=lambda h: h.term_coverage)
        assert Path(best.chunk.source).name == source and best.term_coverage > 0, question
        assert ranked[0].chunk.source == best.chunk.source
    kb = _kb_of(make_kb, tmp_path / "router", {"specs.md": "Router weight: 420 g.",
                                               "lights.md": "The router's power light blinks white while it starts."})
    coverage = {Path(h.chunk.source).name: h.term_coverage for h in kb.search("How heavy is the router?", 2)}
    assert coverage["specs.md"] > coverage["lights.md"]  # alike without it: "heavy" held by neither


def test_an_everyday_word_finds_the_word_documents_write_for_it(make_kb, tmp_path):
    """A tenant asks about the 房东 and the 押金, the law writes 出租人 and 保证金; a buyer says 保修, the manual
    质保; "Who can I ring?" is answered by "call". Only a word no chunk holds is looked up: a KB that writes 房东
    is searched for 房东 alone."""
    from rag.synonyms import other_words

    assert other_words("房东") == ("出租人",) and "质保" in other_words("保修") and other_words("出租人") == ()
    kb = _kb_of(make_kb, tmp_path / "law", {"deposit.md": "第五条 出租人收取的保证金不得超过两个月租金。",
                                            "repair.md": "第六条 承租人应当爱护房屋，损坏的应当修复。",
                                            "warranty.md": "电池柜自安装之日起提供10年有限质保。"})
    for question, source in (("房东最多能收几个月的押金？", "deposit.md"), ("这个柜子厂家保修几年？", "warranty.md")):
        ranked = kb.search(question, 3)
        assert Path(ranked[0].chunk.source).name == source and ranked[0].term_coverage > 0, question
    kb = _kb_of(make_kb, tmp_path / "support", {"support.md": "Call our support line on 0800 123 456.",
                                                "lights.md": "The router's power light blinks white while it starts."})
    coverage = {Path(h.chunk.source).name: h.term_coverage for h in kb.search("What number do I ring?", 2)}
    assert coverage["support.md"] > coverage["lights.md"]


def test_mmr_skips_near_duplicates():
    vectors = np.array([[1, 0], [0.999, 0.045], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = np.array([1.0, 0.99, 0.5], dtype=np.float32)
    assert mmr(scores, vectors, 0.5, 2) == [0, 2]
    assert mmr(scores, vectors, 1.0, 2) == [0, 1]


def test_a_word_naming_the_documents_subject_does_not_outweigh_what_is_asked(make_kb, tmp_path):
    """A manual writes "净重 | 9.5 kg" without repeating the product; its foreword repeats it ("感谢您购买清风空气
    净化器"). "这个净化器有多重？" matched the foreword best, its 净化器 the rarest term; a word of the document's file
    name or title now weighs SUBJECT_TERM_WEIGHT of its idf in that document's passages, and the weight row is the most
    relevant (the fused ranking still puts the short title chunk first: BM25's own length normalisation)."""
    kb = _kb_of(make_kb, tmp_path / "docs", {
        "清风AP-60空气净化器说明书.md": "# 清风 AP-60 空气净化器 使用说明书\n\n感谢您购买清风空气净化器。使用前请仔细阅读本说明书。"
                                   + "请勿在浴室等潮湿场所使用本机，不要让水进入机器内部。" * 12
                                   + "\n\n## 产品参数\n\n额定功率 | 55 W\n\n净重 | 9.5 kg\n\n## 保修\n\n整机保修 1 年。\n",
        "物业管理条例.md": "# 物业管理条例\n\n第一条 为了规范物业管理活动，制定本条例。\n"})
    hits = kb.search("这个净化器有多重？", 5)
    best = max(hits, key=lambda h: h.relevance)
    assert "9.5 kg" in best.chunk.text
    assert all(h.relevance < best.relevance - 0.2 for h in hits if h is not best)
