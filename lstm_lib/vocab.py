"""Characters <-> integer ids."""

from collections.abc import Iterable

import torch

from .errors import UsageError


class Vocabulary:
    """A fixed, ordered set of characters; id ``k`` is ``chars[k]``.

    Built from a text with :meth:`from_text` (sorted, so the same text always
    gives the same ids) and saved with checkpoints as :meth:`to_list`.
    """

    def __init__(self, chars: Iterable[str]):
        self.chars = list(chars)
        if not self.chars:
            raise UsageError("a vocabulary needs at least one character; the text is empty")
        if any(not isinstance(c, str) or len(c) != 1 for c in self.chars):
            raise UsageError("a vocabulary is a list of single characters")
        if len(set(self.chars)) != len(self.chars):
            raise UsageError("a vocabulary must not repeat a character")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self.index

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"

    def encode(self, text: str) -> torch.Tensor:
        """``text`` -> ``(len(text),)`` int64 ids; names any unknown characters."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError:
            unknown = sorted({c for c in text if c not in self.index})
            shown = ", ".join(repr(c) for c in unknown)
            raise UsageError(
                f"characters not in the model's vocabulary: {shown}; "
                "remove them or train on a text that contains them"
            ) from None

    def decode(self, ids) -> str:
        """Ids (a tensor or any iterable of ints) -> text."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        return "".join(self.chars[i] for i in ids)

    def to_list(self) -> list[str]:
        return list(self.chars)
