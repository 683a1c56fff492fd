"""The training progress bar: steps done, loss, perplexity, gradient norm, tokens/s."""

from tqdm.auto import tqdm

from ..evaluation import perplexity


class Progress:
    """A tqdm bar over all optimizer steps of a run.

    Args:
        total: steps in the whole run.
        done: steps already done (a resumed run starts there).
        enabled: False shows nothing.
    """

    def __init__(self, total: int, done: int, enabled: bool = True):
        # At most one redraw per second: in a notebook every redraw is a widget
        # message, and thousands of them queued during a long cell overflow the
        # kernel's output channel (messages, including "cell finished", get dropped).
        self.bar = tqdm(
            total=total, initial=done, disable=not enabled, unit="step", dynamic_ncols=True, mininterval=1.0
        )

    def set_epoch(self, epoch: int, epochs: int) -> None:
        self.bar.set_description(f"epoch {epoch}/{epochs}")

    def step(self, record: dict) -> None:
        """Advance by one step and show its numbers at the next redraw."""
        self.bar.update(1)
        self.bar.set_postfix(
            loss=f"{record['loss']:.3f}",
            ppl=f"{perplexity(record['loss']):.2f}",
            grad=f"{record['grad_norm']:.2f}",
            tok_s=f"{record['tokens_per_s']:,.0f}",
            refresh=False,
        )

    @staticmethod
    def write(line: str) -> None:
        """Print a line without breaking the bar."""
        tqdm.write(line)

    def close(self) -> None:
        self.bar.close()
