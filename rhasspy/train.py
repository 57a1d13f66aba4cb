"""Train Rhasspy 2.5's NLU (fsticuffs) from a sentences.ini, exactly as Rhasspy's server does.

Run with the Rhasspy environment's python (scripts/rhasspy_env.py builds it):

    .rhasspy-venv/bin/python rhasspy/train.py sentences.ini intent_graph.pickle.gz

rhasspy-nlu-hermes does not train itself: it loads the gzipped pickle of an intent graph
given with `--intent-graph` (lazily, on the first query). Rhasspy's web server makes that
graph when you press Train (rhasspyserver_hermes.train.sentences_to_graph, 2.5.10); this
script repeats those steps with the server's defaults: number ranges and digits become
words (`intent.replace_numbers: true`), no case change, no slot directories (the
Aftercare export has no `$slot` references).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rhasspynlu.ini_jsgf import parse_ini, split_rules
from rhasspynlu.jsgf import Expression, Word, walk_expression
from rhasspynlu.jsgf_graph import graph_to_gzip_pickle
from rhasspynlu.jsgf_graph import sentences_to_graph as graph_of_sentences
from rhasspynlu.numbers import number_range_transform, number_transform
from rhasspynlu.slots import get_slot_replacements

WordTransform = Callable[[str], str]
LABEL = "__label__"
"""Output label on the edge that starts each intent's branch of the graph."""


def _casing(name: str) -> WordTransform | None:
    return {"upper": str.upper, "lower": str.lower}.get(name)


def sentences_to_graph(
    ini_text: str, *, language: str = "en", casing: str = "ignore", replace_numbers: bool = True
) -> Any:
    """The intent graph (a networkx DiGraph) for a sentences.ini, as Rhasspy 2.5 builds it."""
    intents = parse_ini(ini_text)
    sentences, replacements = split_rules(intents)
    transform = _casing(casing)

    def visit_word(expression: Expression) -> Expression:
        if isinstance(expression, Word) and transform is not None:
            new_text = transform(expression.text)
            if expression.substitution is None and new_text != expression.text:
                expression.substitution = expression.text  # keep the original as output
            expression.text = new_text
        return expression

    for intent_sentences in sentences.values():
        for sentence in intent_sentences:
            if replace_numbers:
                walk_expression(sentence, number_range_transform, replacements)
            if transform is not None:
                walk_expression(sentence, visit_word, replacements)

    slot_replacements = get_slot_replacements(
        intents,
        slots_dirs=[],
        slot_programs_dirs=[],
        slot_visitor=visit_word if transform is not None else None,
    )
    replacements.update(slot_replacements)

    if replace_numbers:
        for intent_sentences in sentences.values():
            for sentence in intent_sentences:
                walk_expression(
                    sentence,
                    lambda word: number_transform(word, language),
                    replacements,
                )

    return graph_of_sentences(sentences, replacements=replacements, add_intent_weights=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Read the ini, write the gzipped graph, print a one-line summary."""
    parser = argparse.ArgumentParser(description="Train rhasspy-nlu-hermes's intent graph.")
    parser.add_argument("sentences", type=Path, help="sentences.ini (aftercare sentences)")
    parser.add_argument("graph", type=Path, help="output: intent_graph.pickle.gz")
    parser.add_argument("--language", default="en", help="for number words (default: en)")
    parser.add_argument("--casing", choices=["ignore", "lower", "upper"], default="ignore")
    parser.add_argument("--keep-numbers", action="store_true", help="do not turn digits into words")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        ini_text = args.sentences.read_text(encoding="utf-8")
    except OSError as err:
        print(f"error: cannot read {args.sentences}: {err.strerror}", file=sys.stderr)
        return 1
    try:
        graph = sentences_to_graph(
            ini_text,
            language=args.language,
            casing=args.casing,
            replace_numbers=not args.keep_numbers,
        )
    except Exception as err:  # rhasspynlu's parse errors have no common base class
        print(f"error: {args.sentences} does not train: {err!r}", file=sys.stderr)
        return 1
    labels = (str(data.get("olabel", "")) for _, _, data in graph.edges(data=True))
    intents = sorted({label[len(LABEL) :] for label in labels if label.startswith(LABEL)})
    with args.graph.open("wb") as graph_file:
        graph_to_gzip_pickle(graph, graph_file)
    print(
        f"trained {len(intents)} intents ({graph.number_of_nodes()} nodes, "
        f"{graph.number_of_edges()} edges) in {time.monotonic() - started:.1f} s -> {args.graph}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
