"""Untrusted text (answers, questions, passages, file names) shown through Streamlit's Markdown as plain text.

A document can make the model print Markdown: an image `![](https://host/?q=...)` would make every reader's
browser fetch that address, a link would invite a click, a heading would shout. Every character Markdown (or
Streamlit's own `:color[...]`, `:emoji:` and `$math$` syntax) gives a meaning is escaped, so the text shows as
written and nothing in it becomes an image, a link or structure.
"""

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'^])")
# GFM turns bare `scheme://...`, `www.` and e-mail addresses into links after escapes are undone, so an invisible
# word joiner is put where such a link would start.
_AUTOLINK = re.compile(r"(?<=[A-Za-z])(?=://)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(text: str) -> str:
    """`text` escaped for st.markdown (no image, link, heading or styling can come of it); line breaks kept."""
    return _SPECIAL.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, text)).replace("\n", "  \n")
