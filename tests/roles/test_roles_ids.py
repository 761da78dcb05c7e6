import uuid

from llmteam.roles._ids import EventIds


def test_ids_are_unique_uuid4_text() -> None:
    gen = EventIds()
    ids = [gen() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert EventIds()() != gen()


def test_a_new_random_prefix_when_the_counter_would_need_a_thirteenth_digit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from llmteam.roles import _ids

    monkeypatch.setattr(_ids, "_COUNTER_END", 3)
    gen = EventIds()
    ids = [gen.next_id() for _ in range(7)]
    assert len(set(ids)) == 7 and all(uuid.UUID(i).version == 4 for i in ids)
    assert len({i[:24] for i in ids}) == 3  # three batches of at most three ids


def test_the_counter_counts_in_hex_like_formatting_an_int() -> None:
    """The product of digit tables gives the same sequence as ``f"{n:012x}"``, across every table's carry."""
    from llmteam.roles import _ids

    batch = _ids._batch()
    first = next(batch)
    prefix = first[:24]
    assert first == f"{prefix}{0:012x}"
    expected = [f"{prefix}{n:012x}" for n in range(1, 0x2002)]  # carries into the second table twice
    assert [next(batch) for _ in expected] == expected
