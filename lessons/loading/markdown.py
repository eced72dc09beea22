"""Lesson Markdown to HTML: CommonMark with tables, raw HTML off, and two kinds of fenced
block of our own: commands (info string with the word `run`) get a Paste into terminal
button, and `mermaid` blocks are left for mermaid.js to draw."""

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict


def _fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    words = token.info.split()
    if "run" in words:
        # Pasted as written, without the final newline: the student presses Enter.
        command = escapeHtml(token.content.rstrip("\n"))
        return (
            f'<div class="command"><pre><code class="language-bash">{command}</code></pre>'
            f'<button type="button" class="command-paste" data-command="{command}">Paste into terminal</button>'
            "</div>\n"
        )
    if words[:1] == ["mermaid"]:
        return f'<pre class="mermaid">{escapeHtml(token.content)}</pre>\n'
    return _default_fence(tokens, idx, options, env)


_md = MarkdownIt("commonmark", {"html": False}).enable("table")
_default_fence = _md.renderer.rules["fence"]
_md.add_render_rule("fence", _fence)


def markdown_render(text: str) -> str:
    return _md.render(text)


def markdown_render_inline(text: str) -> str:
    """For one-line texts such as quiz choices: no wrapping paragraph."""
    return _md.renderInline(text)


def markdown_tokens(text: str) -> list[Token]:
    return _md.parse(text)


def markdown_render_tokens(tokens: Sequence[Token]) -> str:
    return _md.renderer.render(tokens, _md.options, {})
