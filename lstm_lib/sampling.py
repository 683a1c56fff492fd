"""Producing text from a trained model: greedy, temperature and top-k sampling (chapter 9)."""

import torch

from .errors import UsageError


def next_char_distribution(logits, temperature: float = 1.0, top_k: int | None = None):
    """Turn ``(..., vocab)`` logits into probabilities for the next character.

    ``temperature`` divides the logits (below 1 sharpens, above 1 flattens);
    ``top_k`` keeps only the k most likely characters. Temperature 0 is
    greedy decoding: all probability on the most likely character.
    """
    if temperature < 0:
        raise UsageError(f"temperature must be >= 0, got {temperature!r}", "temperature")
    if top_k is not None and top_k <= 0:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}", "top_k")
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    return torch.softmax(logits, dim=-1)


@torch.no_grad()
def generate(
    model,
    vocab,
    prompt: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` characters, one sample at a time.

    The prompt is read in one pass to set the state; then each sampled
    character is fed back in. With the same ``seed`` the output is the same.

    Returns:
        The prompt followed by the generated characters.
    """
    if not prompt:
        raise UsageError("the prompt must contain at least one character", "prompt")
    if length < 0:
        raise UsageError(f"length must be >= 0, got {length!r}", "length")
    next_char_distribution(torch.zeros(1), temperature, top_k)  # validate the settings
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    was_training = model.training
    model.eval()
    ids = vocab.encode(prompt).to(device).view(-1, 1)  # (prompt_len, batch=1)
    logits, state = model(ids)
    out = []
    for _ in range(length):
        probs = next_char_distribution(logits[-1, 0], temperature, top_k)
        if not torch.isfinite(probs).all():
            raise UsageError("the model's predictions are not finite numbers; its weights are broken")
        next_id = torch.multinomial(probs, 1, generator=generator)
        out.append(next_id.item())
        logits, state = model(next_id.view(1, 1), state)
    model.train(was_training)
    return prompt + vocab.decode(out)
