import pytest


@pytest.mark.parametrize(
    "question, missing",
    [
        ("How often must the QF-350 bearings be re-greased?", ("qf-350",)),  # in the KB, but not in the grease passage
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
