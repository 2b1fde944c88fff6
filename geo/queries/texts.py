"""Many texts held as their code points in one numpy array (``Texts``), with no ``str`` per text: what
place search and the map's text filter are built from at 200,000 stations. Made from a registry
column (numpy ``StringDType``) a block at a time, or from a list; folded character by character
through a table of the distinct characters (``fold_all``).

Why not a list of ``str``: 200,000 small strings per column, made and dropped, leave the process's
small-object heap fragmented long after they are freed (tens of MB resident in a server worker
for the rest of its life); ``scripts/bench_search.py`` prints the memory a build adds.
"""

from __future__ import annotations

import unicodedata

import numpy as np

# Code points that fold (NFKC, case, spaces) on their own: the NFKD of each is only
# starters that never compose with what follows (Hangul jamo and some Indic vowel signs do).
_COMPOSING = ((0x0900, 0x1100), (0x1100, 0x1200), (0x1B00, 0x1B80), (0x3130, 0x3190), (0xA960, 0xA980),
              (0xAC00, 0xD800), (0x11000, 0x12000))


def _folds_alone(char: str) -> bool:
    for c in unicodedata.normalize("NFKD", char):
        code = ord(c)
        if unicodedata.combining(c) or any(lo <= code < hi for lo, hi in _COMPOSING):
            return False
    return True


def codes_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def text_of(codes: np.ndarray) -> str:
    return codes.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


# Texts up to this many code points are converted from a column a block at a time; longer ones (rare) one by one.
_WIDE = 256
_BLOCK = 4096


class Texts:
    """Many texts as their code points, each followed by a 0 (``codes``), and each one's length: what
    the build works on, with no ``str`` per station (200,000 of them would leave the worker's small-object
    heap fragmented long after they are freed)."""

    __slots__ = ("codes", "lengths", "source")

    def __init__(self, codes: np.ndarray, lengths: np.ndarray, source: list[str] | None = None):
        #: ``source``: the texts as ``str``, if made from them (a text holding a 0 is read from here)
        self.codes, self.lengths, self.source = codes, lengths, source

    @classmethod
    def of(cls, texts: list[str]) -> Texts:
        if not texts:
            return cls(np.zeros(0, np.uint32), np.zeros(0, np.int64), [])
        return cls(codes_of("\x00".join(texts) + "\x00"), np.fromiter(map(len, texts), np.int64, len(texts)), texts)

    @classmethod
    def of_column(cls, texts: np.ndarray) -> Texts:
        """From a numpy ``StringDType`` array (a missing value reads as ""), a block of rows at a time."""
        texts = texts.astype(np.dtypes.StringDType(na_object=""))
        lengths = np.strings.str_len(texts).astype(np.int64)
        starts = np.cumsum(lengths + 1) - lengths - 1
        codes = np.zeros(int(lengths.sum()) + len(lengths), np.uint32)
        for lo in range(0, len(texts), _BLOCK):
            block, block_lengths = texts[lo: lo + _BLOCK], lengths[lo: lo + _BLOCK]
            short = np.flatnonzero(block_lengths <= _WIDE)
            width = int(block_lengths[short].max()) if len(short) else 0
            if width:
                matrix = block[short].astype(f"<U{width}").view(np.uint32).reshape(len(short), width)
                keep = np.arange(width) < block_lengths[short, None]
                codes[(starts[lo + short, None] + np.arange(width))[keep]] = matrix[keep]
            for j in np.flatnonzero(block_lengths > _WIDE).tolist():
                at = int(starts[lo + j])
                codes[at: at + int(block_lengths[j])] = codes_of(str(block[j]))
        if int(np.count_nonzero(codes == 0)) != len(lengths):  # a text holds a 0 (written around validation)
            return cls.of([str(t) for t in texts])
        return cls(codes, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> str:
        if self.source is not None:
            return self.source[i]
        start = int(self.lengths[:i].sum()) + i
        return text_of(self.codes[start: start + int(self.lengths[i])])

    def taken(self, order: np.ndarray) -> Texts:
        """Texts ``order``, in that order."""
        spans = self.lengths + 1
        firsts = np.cumsum(spans) - spans
        spans, firsts = spans[order], firsts[order]
        starts = np.cumsum(spans) - spans
        total = int(spans.sum())
        return Texts(self.codes[np.repeat(firsts - starts, spans) + np.arange(total)], self.lengths[order])

    def joined(self, rows, sep: str) -> str:
        """Texts ``rows`` joined by ``sep`` (one character)."""
        taken = self.taken(np.asarray(rows, dtype=np.int64))
        picked = taken.codes
        picked[np.cumsum(taken.lengths + 1) - 1] = ord(sep)  # each text's end (a text may hold a 0 itself)
        return text_of(picked[:-1])

    def strs(self) -> list[str]:
        if self.source is not None:
            return self.source
        return text_of(self.codes[:-1]).split("\x00") if len(self) else []


def fold_all(texts: Texts, fold) -> Texts:
    """``fold`` (a function of one text) of every text at once. Character by character through a table
    of the distinct characters (the same result as ``fold`` on each text, a hundred times faster, for
    a fold that works character by character: NFKC, case, dropping spaces); one text at a time if
    any character's fold depends on its neighbours."""
    n = len(texts)
    if not n:
        return texts
    codes = texts.codes
    distinct = np.flatnonzero(np.bincount(codes))
    folded = {c: fold(chr(c)) for c in distinct.tolist() if c}
    if int((codes == 0).sum()) != n or not all(_folds_alone(chr(c)) for c in folded):
        return Texts.of([fold(t) for t in texts.strs()])
    top = int(distinct[-1]) + 1
    width = np.zeros(top, np.int64)
    width[0] = 1
    longest = max((len(f) for f in folded.values()), default=1)
    table = np.zeros((top, max(longest, 1)), np.uint32)
    for c, f in folded.items():
        width[c] = len(f)
        table[c, : len(f)] = [ord(x) for x in f]
    widths = width[codes]
    if longest <= 1:
        keep = widths > 0
        codes = table[codes[keep], 0]
    else:  # some characters fold to several (ß → ss): repeat each by its width
        total = int(widths.sum())
        at = np.repeat(np.arange(len(codes)), widths)
        offset = np.arange(total) - np.repeat(np.cumsum(widths) - widths, widths)
        codes = table[codes[at], offset]
    ends = np.flatnonzero(codes == 0)
    return Texts(codes, np.diff(ends, prepend=-1) - 1)
