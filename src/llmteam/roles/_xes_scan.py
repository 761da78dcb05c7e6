"""The markup of an XML document that expat has already accepted, as tuples from one regular expression.

The XES reader lets expat check every chunk of the document (well-formedness, DOCTYPE and entity declarations
refused) with no Python callback per element, then reads the same text with :data:`TOKEN`. On text expat has
accepted, XML's grammar leaves little to decide: every ``<`` outside a comment, CDATA section or processing
instruction opens a tag, attribute values never contain ``<``, and the only references are the five predefined
entities and character references. ``TOKEN.findall`` walks the markup in C and yields one tuple per token:

- a whole ``<event>`` in the layout llmteam's writer produces (groups 1-8), whose values need no unescaping,
- ``<name key="..." value="..."/>`` with values that need no unescaping (groups 9-11),
- any other start or empty-element tag (groups 12-14), or an end tag (group 15),
- the unfinished token at the end of the text (group 16, from its ``<``: kept for the next chunk),
- a ``<`` that none of these explains (group 17: a bug of this module, never silently skipped);

comments, CDATA sections and processing instructions give a tuple of empty strings. :func:`check_token_length`
refuses a token longer than the reader's limit, naming it. The reader's tests compare
the tags and attributes seen here with expat's own callbacks on generated documents split at every position.
"""

from __future__ import annotations

import codecs
import re

from llmteam._repr import bounded_repr
from llmteam.roles._errors import XESImportError
from llmteam.roles._xes import COST_KEY, DURATION_KEY, EVENT_ID_KEY

FIELD_KEYS = {
    "concept:name": "activity",
    "org:resource": "resource",
    "time:timestamp": "timestamp",
    "lifecycle:transition": "lifecycle",
    EVENT_ID_KEY: "event_id",
    DURATION_KEY: "duration_ms",
    COST_KEY: "cost",
}
"""The XES keys read into the fields of an event (the first occurrence; later ones are plain attributes)."""
_S = "[ \t\r\n]"  # XML white space (``\s`` would also take other Unicode spaces)
_V = '[^"&<\t\n\r]'  # a character of an attribute value that is neither a reference nor normalised white space
_NAME = "[^ \t\r\n/>!?<]+"
_ATTR = "[^ \t\r\n=/>!?<\"']+"  # an attribute name: an XML Name never holds these (nor can a tag's "/>" be one)
_TYPES = "string|int|float|boolean|date|id"
# An attribute element of the event's extra attributes, whose key is none of the event's fields (a field key there
# would set the field when the layout omitted it: such events take the general path)
_EXTRA = f'<(?:{_TYPES}) key="(?!(?:{"|".join(map(re.escape, FIELD_KEYS))})"){_V}*" value="{_V}*"/>{_S}*'
_LLMTEAM_EVENT = (
    f"event>{_S}*"
    f'<string key="concept:name" value="({_V}*)"/>{_S}*'
    f'<string key="org:resource" value="({_V}*)"/>{_S}*'
    f'<date key="time:timestamp" value="({_V}+)"/>{_S}*'
    f'<string key="lifecycle:transition" value="({_V}*)"/>{_S}*'
    f'(?:<id key="{EVENT_ID_KEY}" value="({_V}+)"/>{_S}*)?'
    f'(?:<int key="{DURATION_KEY}" value="(-?[0-9]{{1,16}})"/>{_S}*)?'  # longer: read tag by tag, and refused
    f'(?:<float key="{COST_KEY}" value="({_V}+)"/>{_S}*)?'
    f"((?:{_EXTRA})*)"
    "</event>"
)


def token_pattern(whole_events: bool = True) -> re.Pattern[str]:
    """The markup pattern; without ``whole_events`` its first alternative never matches (same groups)."""
    return re.compile(
        "<(?:"
        + ("" if whole_events else "(?!)")
        + _LLMTEAM_EVENT
        + f'|({_NAME}) key="({_V}*)" value="({_V}*)"/>'
        + f"|({_NAME})((?:{_S}+{_ATTR}{_S}*={_S}*(?:\"[^\"]*\"|'[^']*'))*){_S}*(/?)>"
        + f"|/({_NAME}){_S}*>"
        + r"|!--.*?-->|!\[CDATA\[.*?]]>|\?.*?\?>"
        + r")|(<(?:!--|!\[CDATA\[|\?).*|<[^<]*)\Z|(<)",
        re.S,
    )


TOKEN = token_pattern()



def scan(pattern: re.Pattern[str], pending: str, data: str) -> tuple[list[tuple[str, ...]], str]:
    """The finished tokens of ``pending + data``, and the unfinished token at its end (to read with the next piece)."""
    tokens = pattern.findall(pending + data if pending else data)
    if tokens and tokens[-1][15]:
        return tokens, tokens.pop()[15]
    return tokens, ""


_ONE_TAG = token_pattern(whole_events=False)  # one tag per match, never a whole event
_KEY = re.compile("[ \t\r\n]key[ \t\r\n]*=[ \t\r\n]*(?:\"([^\"]*)\"|'([^']*)')")


def check_token_length(text: str, limit: int) -> None:
    """Refuse the token at the start of ``text`` (a tag, comment... finished or not) if it is longer than ``limit``,
    with an XESImportError naming it (the element and its key)."""
    m = _ONE_TAG.match(text)
    if m is not None and m.end() <= limit and not m.group(16):
        return
    if len(text) <= limit:  # an unfinished token within the limit: the next piece may finish it
        return
    head = text[:4096]
    kinds = (("<!--", "a comment"), ("<![CDATA[", "a CDATA section"), ("<?", "a processing instruction"))
    what = next((name for start, name in kinds if head.startswith(start)), "")
    if not what:
        name = re.match("<([^ \t\r\n/>]*)", head)
        what = f"the <{name.group(1) if name else ''}> element"
        key = _KEY.search(head)
        if key is not None:
            what += f" with key {bounded_repr(attribute_value(key.group(1) or key.group(2) or ''))}"
    raise XESImportError(
        f"XES input has {what} longer than {limit:,} characters (starting {bounded_repr(head[:40])}); the"
        " reader takes tags, attribute values and comments of at most that length: shorten or drop the value"
    )


EXTRA = re.compile(f'<({_TYPES}) key="({_V}*)" value="({_V}*)"/>')
"""The extra attributes of an event :data:`TOKEN` matched whole: (type, key, value)."""

_ATTRIBUTE = re.compile(f"({_ATTR}){_S}*={_S}*(?:\"([^\"]*)\"|'([^']*)')")
_REFERENCE = re.compile("&(?:(lt|gt|amp|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_SPACES = str.maketrans("\t\n\r", "   ")


def _resolve(m: re.Match[str]) -> str:
    name, decimal, hexadecimal = m.groups()
    if name:
        return _ENTITIES[name]
    return chr(int(decimal) if decimal else int(hexadecimal, 16))


def attribute_value(raw: str) -> str:
    """An attribute value as XML 1.0 reads it: line ends and white space normalised, then references resolved."""
    if "&" not in raw and "\t" not in raw and "\n" not in raw and "\r" not in raw:
        return raw
    return _REFERENCE.sub(_resolve, raw.replace("\r\n", " ").translate(_SPACES))


def attributes(text: str) -> list[str]:
    """The attributes of a start tag (the text after its name) as ``[name, value, name, value, ...]``."""
    out: list[str] = []
    for name, double, single in _ATTRIBUTE.findall(text):
        out += (name, attribute_value(double or single))
    return out


_DECLARATION = re.compile(
    rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:\"[^\"]*\"|'[^']*')[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*"
    rb"[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']"
)


def encoding_of(head: bytes) -> str:
    """The encoding of an XML document from its first bytes: a byte-order mark, the declaration, else UTF-8."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    m = _DECLARATION.match(head)
    if m is None:
        return "utf-8"
    name = m.group(1).decode("ascii")
    try:
        "<".encode(name)  # a known text encoding (str.encode refuses codecs such as base64 or rot13)
        codecs.getincrementaldecoder(name)().decode(b"<")
    except (LookupError, UnicodeError):  # UnicodeError: a codec that encodes or decodes nothing ("undefined")
        raise XESImportError(
            f"XES file declares the encoding {bounded_repr(name)}, which Python cannot decode text with; re-save it"
            " as UTF-8"
        ) from None
    return name
