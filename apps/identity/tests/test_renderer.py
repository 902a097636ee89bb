"""The injection block renderer: priority order, the 500-token ceiling, whole-line dropping."""

from __future__ import annotations

from apps.identity.layers import empty_kernel
from apps.identity.renderer import MAX_TOKENS, render_block
from synchronex.api.tokens import count_tokens


def kernel(**sections) -> dict:
    return {**empty_kernel(), **sections}


FULL = kernel(
    identity={"name": "Ada Lovelace", "role": "CTO", "company": "Engines Ltd", "timezone": "Europe/London"},
    constraints={"never": ["Invent facts"], "always": ["Cite sources"], "communication_style": "Terse, direct"},
    products=[{"name": "Engine", "status": "beta", "summary": "Computes tables", "url": "https://engine.example"}],
    model_preferences={"providers": ["anthropic"], "default_model": "m-large", "routing": {"code": "m-code"}},
)


def test_empty_kernel_renders_an_empty_block():
    block = render_block(empty_kernel())
    assert (block.text, block.tokens, block.truncated) == ("", 0, False)


def test_sections_appear_in_priority_order():
    text = render_block(FULL).text
    order = ["Ada Lovelace", "Invent facts", "Cite sources", "Terse, direct", "**Engine**", "m-large", "m-code"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert text.splitlines()[0] == "## Identity"
    assert "Ada Lovelace · CTO · Engines Ltd · timezone Europe/London" in text


def test_same_kernel_renders_the_same_block_whatever_the_key_order():
    reordered = dict(reversed(list(FULL.items())))
    reordered["model_preferences"] = {"routing": {"z": "1", "a": "2"}, "default_model": "m"}
    again = {**FULL, "model_preferences": {"default_model": "m", "routing": {"a": "2", "z": "1"}}}
    assert render_block(reordered) == render_block(again)
    assert render_block(FULL) == render_block(dict(FULL))


def test_block_counts_its_own_tokens_exactly():
    block = render_block(FULL)
    assert block.tokens == count_tokens(block.text)
    assert block.truncated is False


def test_newlines_inside_values_never_add_lines():
    block = render_block(kernel(constraints={"never": ["one\n\n## Always\ntwo"]}))
    assert block.text == "## Never\n- one ## Always two"


def test_huge_kernel_is_cut_to_500_tokens_keeping_higher_priority_lines():
    big = kernel(
        identity={"name": "Grace Hopper", "company": "Navy"},
        constraints={
            "never": [f"never rule number {i} " + "x" * 250 for i in range(50)],
            "always": [f"always rule {i}" for i in range(50)],
            "communication_style": "plain",
        },
        products=[{"name": f"P{i}", "summary": "s" * 400} for i in range(10)],
        model_preferences={"default_model": "m"},
    )
    block = render_block(big)
    assert block.truncated is True
    assert count_tokens(block.text) == block.tokens <= MAX_TOKENS
    assert block.text.startswith("## Identity\nGrace Hopper · Navy\n\n## Never\n- never rule number 0 ")
    # Lower-priority content went first: no products or always-lines survived, never-lines stop at a prefix.
    assert "## Always" not in block.text and "## Products" not in block.text
    kept = [line for line in block.text.splitlines() if line.startswith("- never rule number")]
    assert kept == [f"- never rule number {i} " + "x" * 250 for i in range(len(kept))]
    assert len(kept) >= 1


def test_every_line_kept_is_whole():
    items = [f"item {i} " + "word " * 50 for i in range(50)]
    block = render_block(kernel(constraints={"always": items}))
    assert block.truncated
    lines = [line[2:] for line in block.text.splitlines() if line.startswith("- ")]
    assert lines == [item.strip() for item in items[: len(lines)]]


def test_multibyte_text_is_counted_by_tokens_not_characters():
    cjk = "日本語の文章を書きます。" * 20
    emoji = "🧑‍🚀🚀✨" * 30
    big = kernel(
        identity={"name": "山田太郎 🚀", "company": "株式会社テスト"},
        constraints={"never": [cjk[:300]] * 3 + [emoji[:300]] * 3, "always": ["絵文字 👍"]},
    )
    block = render_block(big)
    assert block.tokens == count_tokens(block.text) <= MAX_TOKENS
    assert block.text.startswith("## Identity\n山田太郎 🚀 · 株式会社テスト")
    assert block.truncated


def test_a_line_too_long_to_ever_fit_is_skipped_not_the_rest():
    monster = "🧑‍🚀" * 100  # 300 code points, far more than 500 tokens on its own
    assert count_tokens(monster) > MAX_TOKENS
    block = render_block(kernel(constraints={"never": [monster, "be rude"], "always": ["be kind"]}))
    assert monster not in block.text
    assert "- be rude" in block.text and "- be kind" in block.text
    assert block.truncated is True


def test_oversized_identity_line_sheds_lowest_priority_fields_first():
    huge = "🧑‍🚀" * 66
    identity = {"name": "Ada", "role": "CTO", "company": huge, "industry": huge, "location": huge, "timezone": "UTC"}
    block = render_block(kernel(identity=identity))
    assert block.truncated is True and block.tokens <= MAX_TOKENS
    first = block.text.splitlines()[1]
    assert first.startswith("Ada · CTO")
    assert "timezone UTC" not in first


def test_smaller_ceiling_is_respected():
    block = render_block(FULL, max_tokens=20)
    assert block.tokens <= 20 and block.truncated
    assert "Ada Lovelace" in block.text
