"""An RFC 6962 Merkle tree over one tenant's record checksums, with cached complete-subtree hashes.

Level ``k`` holds the hash of every complete, aligned subtree of ``2**k`` leaves (one 32-byte slot each in a
``bytearray``), so any proof needs only O(log n) lookups plus a few hashes along the ragged right edge; those
are memoised per tree size. Appending a leaf updates at most log2(n) levels.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmteam.audit.verifier import leaf_hash, node_hash

__all__ = ["MerkleTree"]

_H = 32


class MerkleTree:
    """An append-only Merkle tree; leaf ``i`` is the record with sequence number ``i + 1``."""

    def __init__(self, checksums: Iterable[str] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.size = 0
        self._memo: dict[tuple[int, int], bytes] = {}
        self.extend(checksums)

    def extend(self, checksums: Iterable[str]) -> None:
        """Append leaves (record checksums as hex) in sequence order."""
        levels = self._levels
        for checksum in checksums:
            levels[0] += leaf_hash(checksum)
            self.size += 1
            index, level = self.size - 1, 0
            while index & 1:  # this node completed a pair: build its parent
                if level + 1 == len(levels):
                    levels.append(bytearray())
                row = levels[level]
                left = row[(index - 1) * _H : index * _H]
                right = row[index * _H : (index + 1) * _H]
                levels[level + 1] += node_hash(bytes(left), bytes(right))
                index, level = index >> 1, level + 1
        if self._memo:
            self._memo.clear()

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi <= size (RFC 6962 §2.1)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            level = n.bit_length() - 1
            i = lo >> level
            return bytes(self._levels[level][i * _H : (i + 1) * _H])
        memo = self._memo.get((lo, hi))
        if memo is not None:
            return memo
        k = 1 << ((n - 1).bit_length() - 1)
        value = node_hash(self._subtree(lo, lo + k), self._subtree(lo + k, hi))
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[(lo, hi)] = value
        return value

    def _check_size(self, n: int) -> None:
        if not 0 <= n <= self.size:
            raise ValueError(f"tree size {n} is outside 0..{self.size} (the records this tree holds)")

    def root(self, n: int | None = None) -> bytes:
        """The root hash of the first ``n`` leaves (all by default); the empty tree hashes to SHA-256("")."""
        n = self.size if n is None else n
        self._check_size(n)
        if n == 0:
            import hashlib

            return hashlib.sha256(b"").digest()
        return self._subtree(0, n)

    def inclusion_path(self, index: int, n: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:n]): sibling hashes from the leaf up to the root."""
        n = self.size if n is None else n
        self._check_size(n)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside the tree of size {n}")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                path.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._subtree(lo, lo + k))
                lo = lo + k
        path.reverse()
        return path

    def consistency_path(self, m: int, n: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(m, D[0:n]): proves the first ``m`` leaves are a prefix of the first ``n``."""
        n = self.size if n is None else n
        self._check_size(n)
        if not 0 <= m <= n:
            raise ValueError(f"consistency from size {m} to {n} is impossible: {m} must be in 0..{n}")
        if m in (0, n):
            return []
        path: list[bytes] = []
        lo, hi, complete = 0, n, True
        while True:
            size = hi - lo
            if m == size:
                if not complete:
                    path.append(self._subtree(lo, hi))
                break
            k = 1 << ((size - 1).bit_length() - 1)
            if m <= k:
                path.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._subtree(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        path.reverse()
        return path
