"""Merkle tree: RFC 6962 roots, inclusion and consistency proofs for every size, checked by the verifier."""

from __future__ import annotations

import hashlib

import pytest

from llmteam.audit import MerkleTree
from llmteam.audit.verifier import leaf_hash, node_hash, verify_consistency, verify_inclusion


def cs(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def naive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def test_roots_and_proofs_for_all_small_sizes() -> None:
    t = MerkleTree()
    assert t.root() == hashlib.sha256(b"").digest()
    for n in range(1, 34):
        t.extend([cs(n - 1)])
        leaves = [leaf_hash(cs(i)) for i in range(n)]
        assert t.root() == naive_root(leaves)
        for m in range(n):
            path = t.inclusion_path(m)
            assert len(path) <= (n - 1).bit_length()
            assert verify_inclusion(m, n, leaves[m], path, t.root())
            assert not verify_inclusion(m, n, leaf_hash(cs(999)), path, t.root())
        for m in range(0, n + 1):
            proof = t.consistency_path(m, n)
            assert verify_consistency(m, n, t.root(m), t.root(n), proof)
            if 0 < m < n:
                assert not verify_consistency(m, n, leaf_hash(cs(5)), t.root(n), proof)


def test_bad_arguments() -> None:
    t = MerkleTree([cs(0), cs(1)])
    with pytest.raises(ValueError):
        t.inclusion_path(2)
    with pytest.raises(ValueError):
        t.root(3)
    with pytest.raises(ValueError):
        t.consistency_path(3, 2)
    assert not verify_inclusion(5, 2, leaf_hash(cs(0)), [], t.root())
