"""The token pattern must see exactly the tags and attributes expat sees, on any well-formed document, however the
document is split into pieces (the reader keeps an unfinished token for the next piece)."""

from __future__ import annotations

import codecs
from xml.parsers import expat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import XESImportError
from llmteam.roles._xes_scan import (
    TOKEN,
    attribute_value,
    attributes,
    check_token_length,
    encoding_of,
    scan,
    token_pattern,
)

TAGS = token_pattern(whole_events=False)

# XML 1.0 characters (no controls other than tab/CR/LF, no surrogates, no U+FFFE/U+FFFF)
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20)
text = st.text(chars, max_size=12)
names = st.sampled_from(["log", "trace", "event", "string", "date", "int", "list", "values", "x:event",
                         "xes:string", "a", "_b.c-d", "événement", "ns:名前", "key", "value", "id"])
space = st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \r"])
some_space = st.sampled_from([" ", "\n", "\t", "\r\n", " \n "])


@st.composite
def attribute_text(draw: st.DrawFn, value: str) -> str:
    """A quoted attribute value that reads back as ``value``: escaped, partly as character references."""
    quote = draw(st.sampled_from(['"', "'"]))
    out = []
    for c in value:
        how = draw(st.integers(0, 5))
        if c == "&" or c == "<" or c == quote or (c in "\t\n\r" and how < 4):
            out.append({"&": "&amp;", "<": "&lt;", '"': "&quot;", "'": "&apos;"}.get(c, f"&#{ord(c)};"))
        elif how == 0:
            out.append(f"&#x{ord(c):x};")
        elif how == 1 and c == ">":
            out.append("&gt;")
        else:
            out.append(c)  # a literal tab, CR or LF is normalised to a space, as expat does
    return quote + "".join(out) + quote


@st.composite
def misc(draw: st.DrawFn) -> str:
    """Character data, a comment, a CDATA section or a processing instruction (with markup-like text inside)."""
    body = draw(st.text(st.sampled_from(list("ab <>&-?]'\"\n/=")), max_size=10))
    kind = draw(st.integers(0, 3))
    if kind == 0:  # no "]" at the end: the next piece could start with "]>" or ">" and make a "]]>" across them
        return body.rstrip("]").replace("&", "&amp;").replace("<", "&lt;").replace("]]>", "]]&gt;")
    if kind == 1:
        return "<!--" + body.replace("-", "") + "-->"
    if kind == 2:
        return "<![CDATA[" + body.replace("]]>", "") + "]]>"
    return "<?pi " + body.replace("?>", "") + "?>"


@st.composite
def element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(names)
    attrs = draw(st.dictionaries(st.sampled_from(["key", "value", "k", "x:y", "note"]), text, max_size=3))
    head = "<" + name + "".join(
        draw(some_space) + k + draw(space) + "=" + draw(space) + draw(attribute_text(v)) for k, v in attrs.items()
    ) + draw(space)
    if depth < 3 and draw(st.booleans()):
        children = draw(st.lists(st.one_of(misc(), element(depth + 1)), max_size=4))
        return head + ">" + "".join(children) + "</" + name + draw(space) + ">"
    return head + "/>"


@st.composite
def document(draw: st.DrawFn) -> str:
    prolog = draw(st.sampled_from(["", '<?xml version="1.0"?>\n', "<?xml version='1.0' encoding='UTF-8'?>"]))
    before = "".join(draw(st.lists(misc().filter(lambda m: m.startswith(("<!--", "<?"))), max_size=2)))
    after = "".join(draw(st.lists(misc().filter(lambda m: m.startswith(("<!--", "<?"))), max_size=2)))
    return prolog + before + draw(element()) + after


def expat_view(doc: str) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    parser.StartElementHandler = lambda tag, attrs: seen.append(("start", tag, *attrs))
    parser.EndElementHandler = lambda tag: seen.append(("end", tag))
    parser.Parse(doc, True)
    return seen


def token_view(pieces: list[str], pattern: object = TAGS) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []
    pending = ""
    for piece in [*pieces, ""]:
        tokens, pending = scan(pattern, pending, piece)  # type: ignore[arg-type]
        for t in tokens:
            tag, key, raw, start, named, empty, end, bad = t[8:15] + t[16:17]
            assert not bad and not t[2], t
            if tag:
                seen += [("start", tag, "key", key, "value", raw), ("end", tag)]
            elif start:
                seen.append(("start", start, *attributes(named)))
                if empty:
                    seen.append(("end", start))
            elif end:
                seen.append(("end", end))
    assert pending == ""
    return seen


@settings(max_examples=400, deadline=None)
@given(document(), st.lists(st.integers(0, 10_000), max_size=6))
def test_tokens_match_expat_on_any_document_split_anywhere(doc: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(doc), *(c % (len(doc) + 1) for c in cuts)})
    pieces = [doc[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert token_view(pieces) == expat_view(doc)


def test_every_split_of_a_document_with_every_kind_of_markup() -> None:
    doc = ("<?xml version='1.0'?><!-- <a> --><log\r\n a = 'x&#10;y&amp;&lt;\"'><trace><![CDATA[<event>]]>"
           '<string key="k" value="v"/><?pi <x> ?><event key="a&gt;" value="b"></event></trace></log><!--e-->')
    want = expat_view(doc)
    for cut in range(len(doc) + 1):
        for second in (cut, min(cut + 7, len(doc))):
            assert token_view([doc[:cut], doc[cut:second], doc[second:]]) == want, (cut, second)


@pytest.mark.parametrize("doc", [
    "<log /><!--=''>-->",  # found by the property test: "/><!--" was read as an attribute name
    "<log><trace /><!--=' '>--></log>",
    "<log><a\t/><?pi ='x'>?><b /><![CDATA[=\"\">]]></log>",
])
def test_an_empty_tag_before_markup_with_an_equals_sign_is_read_as_expat_reads_it(doc: str) -> None:
    """An attribute name is an XML Name: it never holds "/", ">", "<", "!", "?", "=" or a quote, so a tag's end
    is never taken for an attribute that runs on into the comment (or PI, CDATA) after it."""
    assert token_view([doc]) == expat_view(doc)


def test_values_are_normalised_as_xml_says() -> None:
    assert attribute_value("a\tb\r\nc\rd\ne") == "a b c d e"  # literal white space: one space each
    assert attribute_value("&#9;&#10;&#x0D;&lt;&gt;&amp;&quot;&apos;") == "\t\n\r<>&\"'"  # references: as named
    assert attribute_value("&amp;lt;") == "&lt;"  # resolved once
    assert attributes(" a='1\"' b = \"'2'\"") == ["a", '1"', "b", "'2'"]


def test_a_whole_llmteam_event_is_one_token() -> None:
    doc = ('<event><string key="concept:name" value="a"/><string key="org:resource" value="r"/>'
           '<date key="time:timestamp" value="2024-01-01T00:00:00"/><string key="lifecycle:transition" value="c"/>'
           '<int key="n" value="1"/></event>')
    (token,) = TOKEN.findall(doc)
    assert token[:8] == ("a", "r", "2024-01-01T00:00:00", "c", "", "", "", '<int key="n" value="1"/>')
    # a field key among the extra attributes, a reference or a literal newline: read tag by tag
    for other in (doc.replace('"n"', '"cost:total"'), doc.replace('value="a"', 'value="&amp;"'),
                  doc.replace('value="r"', 'value="\n"')):
        assert not any(t[2] for t in TOKEN.findall(other))


@pytest.mark.parametrize("head, encoding", [
    (codecs.BOM_UTF8 + b"<log/>", "utf-8-sig"),
    (codecs.BOM_UTF16_LE + "<log/>".encode("utf-16-le"), "utf-16"),
    ("<?xml version='1.0'?>".encode("utf-16-be"), "utf-16-be"),
    (b"<?xml version='1.0' encoding='ISO-8859-1'?><log/>", "ISO-8859-1"),
    (b'<?xml version="1.0"?><log/>', "utf-8"),
    (b"<log/>", "utf-8"),
])
def test_the_encoding_comes_from_the_bom_or_the_declaration(head: bytes, encoding: str) -> None:
    assert encoding_of(head) == encoding


@pytest.mark.parametrize("name", ["no-such-codec", "base64", "rot13", "undefined"])
def test_an_unknown_or_non_text_encoding_is_refused(name: str) -> None:
    with pytest.raises(XESImportError, match="re-save it as UTF-8"):
        encoding_of(f"<?xml version='1.0' encoding='{name}'?><log/>".encode())


@pytest.mark.parametrize("text, refused", [
    ('<string key="k" value="12345"/><event>', False),  # 31 characters: the limit, finished
    ('<string key="k" value="123456"/><x/>', True),  # 32, finished
    ('<string key="k" value="12345', False),  # unfinished, within the limit: the next piece may finish it
    ('<string key="k" value="1234567890123', True),  # unfinished, past it
    ("<!--" + "-" * 40, True),
])
def test_a_token_longer_than_the_limit_is_refused_by_name(text: str, refused: bool) -> None:
    if refused:
        with pytest.raises(XESImportError, match="longer than 31 characters"):
            check_token_length(text, 31)
    else:
        check_token_length(text, 31)
