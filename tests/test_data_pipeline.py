"""Vocabulary, the contiguous split and the stream layout used for truncated BPTT."""

import pytest
import torch

from lstm_lib import UsageError, Vocabulary, batchify, get_batch, split_ids, window_starts


def test_vocabulary_round_trip_and_sorted_ids():
    vocab = Vocabulary.from_text("hello, world")
    assert vocab.chars == sorted(set("hello, world"))
    assert vocab.decode(vocab.encode("world, hello")) == "world, hello"
    assert len(vocab) == 9 and "h" in vocab and "z" not in vocab


def test_unknown_characters_are_named():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(UsageError, match=r"'x', 'é'"):
        vocab.encode("abxéx")


def test_vocabulary_rejects_bad_lists():
    for chars in ([], ["a", "a"], ["ab"]):
        with pytest.raises(UsageError):
            Vocabulary(chars)


def test_split_is_contiguous():
    ids = torch.arange(100)
    train, val = split_ids(ids, 0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(val, torch.arange(90, 100))
    with pytest.raises(UsageError):
        split_ids(ids, 1.5)


def test_batchify_lays_consecutive_chunks_side_by_side():
    ids = torch.arange(26)
    source = batchify(ids, batch_size=3, seq_len=2)  # 8 rows, the last 2 ids dropped
    assert source.shape == (8, 3)
    assert torch.equal(source[:, 1], torch.arange(8, 16)), "column b is the b-th chunk of the text"


def test_get_batch_targets_are_inputs_shifted_by_one_and_windows_continue():
    source = batchify(torch.arange(40), batch_size=2, seq_len=3)  # 20 rows
    starts = window_starts(source, 3)
    assert starts == list(range(0, 19, 3))
    inputs, targets = get_batch(source, 0, 3)
    assert torch.equal(targets[:-1], inputs[1:])
    assert torch.equal(targets[:, 0], torch.tensor([1, 2, 3]))
    next_inputs, _ = get_batch(source, 3, 3)
    assert next_inputs[0, 0] == inputs[-1, 0] + 1, "the next window continues each stream"
    last_inputs, last_targets = get_batch(source, starts[-1], 3)
    assert len(last_inputs) == 1 and last_targets[-1, 0] == 19


@pytest.mark.parametrize(
    ("n", "batch", "seq_len", "message", "parameter"),
    [
        (50, 8, 10, "too short", "batch_size"),
        (50, 0, 10, "batch_size must be a positive integer", "batch_size"),
        (50, 2, -1, r"seq_len \(the window length\) must be a positive integer", "seq_len"),
    ],
)
def test_batchify_errors(n, batch, seq_len, message, parameter):
    with pytest.raises(UsageError, match=message) as caught:
        batchify(torch.arange(n), batch, seq_len)
    assert caught.value.parameter == parameter, "the error names the parameter, for the CLI to show its flag"
