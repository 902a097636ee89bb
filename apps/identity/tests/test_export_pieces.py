"""The kernel export's selection charges each unit its exact cost in place (apps/identity/export.py
``_Pieces``), whatever order the units are kept in: the costs add up to the assembled content's count."""

from __future__ import annotations

import random

import pytest

from apps.identity import export
from synchronex.api.tokens import count_tokens

# Words, punctuation that merges with the newline after it, continuation lines (indented), "/",
# CJK, emoji and a non-ASCII space: what decides where o200k_base's pre-tokens start.
FRAGMENTS = ["word", " word", ".", ",", "!", "\n", "\n  ", " ", "中文", "😀", "/", "'s", "done.", "(x)", "1234", "#"]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_kept_pieces_join_to_the_content_and_their_costs_add_up_to_its_count(fmt):
    rng = random.Random(f"pieces-{fmt}")

    def text(most: int) -> str:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, most)))

    for _ in range(600):
        titles = {"kernel": "Identity kernel", "product": f"Product: {text(3)}", "decisions": "Relevant decisions"}
        units = [export._Unit("kernel", "kernel", f"## Identity\n{text(20)}")] if rng.random() < 0.7 else []
        if rng.random() < 0.8:
            units.append(export._Unit("product", "status", f"Status: {text(4)}"))
            for group in export.PRODUCT_KEEP_ORDER[1:]:
                prefix, most = ("", 1) if group in dict(export.PRODUCT_TEXTS) else ("- ", 4)
                units += [export._Unit("product", group, prefix + text(10)) for _ in range(rng.randint(0, most))]
        decisions = [f"[2026-01-01] P: {text(15)}" for _ in range(rng.randint(0, 4))]
        units += [export._Unit("decisions", "decisions", decision) for decision in decisions]
        # Any unit after the status line may be left out (as one that does not fit is).
        pieces, kept, used = export._Pieces(titles, fmt), [], 0
        for unit in units:
            if unit.kind == "product" and unit.group != "status" and rng.random() < 0.3:
                continue
            if unit.kind == "decisions" and rng.random() < 0.3:
                continue
            cost, place = pieces.cost(unit)
            pieces.add(unit, place)
            kept.append(unit)
            used += cost
            content = export._assemble(kept, titles, fmt)[0]
            assert "".join(pieces.texts) == content
            assert used == count_tokens(content), content
