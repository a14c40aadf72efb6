"""Answering a question from the KB: the answer flow (answerer), the checks on a model's reply (checks), the
passage sentences that stand in for a failed one (stand_ins), and what comes back (result)."""
from rag.answer.answerer import Answerer
from rag.answer.checks import (attribute, figures_supported, gives_what_is_asked, is_grounded, is_supported,
                               kind_answered, outermost_terms, passage_sentences, quote_for, shared_places,
                               source_sentences)
from rag.answer.result import Answer, AnswerStream, Source
from rag.answer.stand_ins import StandIns

__all__ = ["Answer", "AnswerStream", "Answerer", "Source", "StandIns", "attribute", "figures_supported",
           "gives_what_is_asked", "is_grounded", "is_supported", "kind_answered", "outermost_terms",
           "passage_sentences", "quote_for", "shared_places", "source_sentences"]
