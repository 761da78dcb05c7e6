import uuid

from llmteam.roles._ids import EventIds


def test_ids_are_unique_uuid4_text() -> None:
    gen = EventIds()
    ids = [gen() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert EventIds()() != gen()
