"""What a chat message may hold: protocol.text_problem, the rule every path shares
(frames from clients, broadcast() from server code).
"""

import pytest

from {{ cookiecutter.project_slug }}.chat.protocol import text_problem

RLO, LRO, RLE, PDF = "\u202e", "\u202d", "\u202b", "\u202c"
RLI, FSI, PDI = "\u2067", "\u2068", "\u2069"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("hello", id="ascii"),
        pytest.param("héllo 👋 <b>&amp;</b>", id="accents-emoji-markup"),
        pytest.param("שלום עולם", id="hebrew"),
        pytest.param("مرحبا", id="arabic"),
        pytest.param("👩\u200d💻", id="emoji-zwj-sequence"),
        pytest.param("e\u0301", id="combining-mark-on-a-letter"),
        pytest.param("line one\nline two\tindented", id="newline-and-tab"),
        pytest.param(f"{RLO}evil{PDF}", id="override-closed"),
        pytest.param(f"{RLI}name{PDI} wrote", id="isolate-closed"),
        pytest.param(f"{RLE}a{RLI}b{PDI}c{PDF}", id="nested-in-order"),
        pytest.param("\u200e!", id="mark-and-punctuation"),
        pytest.param("\ue000", id="private-use"),
    ],
)
def test_text_a_room_may_see(text):
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("\ud800", "valid Unicode", id="lone-high-surrogate"),
        pytest.param("ok \udfff", "valid Unicode", id="lone-low-surrogate"),
        pytest.param("a\x00b", "control characters", id="nul"),
        pytest.param("ring\x07", "control characters", id="bell"),
        pytest.param("a\rb", "control characters", id="carriage-return"),
        pytest.param("a\x7fb", "control characters", id="delete"),
        pytest.param("a\x85b", "control characters", id="next-line"),
        pytest.param("\x1b[2J", "control characters", id="terminal-escape"),
        pytest.param("", "visible character", id="empty"),
        pytest.param("   \n\t", "visible character", id="whitespace"),
        pytest.param("\u200b", "visible character", id="zero-width-space"),
        pytest.param("\u200d\u200c\u2060\ufeff", "visible character", id="joiners-and-bom"),
        pytest.param("\u0301", "visible character", id="lone-combining-mark"),
        pytest.param("\u3000\u2028", "visible character", id="ideographic-space-separator"),
        pytest.param(f"{RLO}{PDF}", "visible character", id="bidi-only"),
        pytest.param(f"{RLO}evil", "open", id="override-left-open"),
        pytest.param(f"{FSI}name", "open", id="isolate-left-open"),
        pytest.param(f"name{PDF}", "did not open", id="pop-without-push"),
        pytest.param(f"x{PDI}", "did not open", id="isolate-pop-without-push"),
        pytest.param(f"{LRO}a{RLI}b{PDF}c{PDI}", "did not open", id="crossed-nesting"),
    ],
)
def test_text_refused_and_why(text, problem):
    assert problem in (text_problem(text) or "")
