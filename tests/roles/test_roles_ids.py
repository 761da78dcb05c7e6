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
