"""Every backend is device-agnostic: nothing on its path assumes a CPU.

No GPU is needed: the model runs on PyTorch's ``meta`` device, whose tensors
have shapes and dtypes but no data. An op that only exists for CPU tensors
(oneDNN's, for instance), a hard-coded ``device="cpu"`` or a ``.cpu()`` on
the way would fail or leave a tensor on the wrong device here, as it would on a GPU.
"""

import pytest
import torch

from lstm_lib import CharLSTM, ModelConfig, TrainConfig, Trainer, Vocabulary, split_ids
from lstm_lib.backward import StepKernels, step_backward_into
from lstm_lib.fast.compiled import step_forward
from lstm_lib.fast.sequence import run_sequence

from .helpers import TEXT


def meta_model(backend):
    with torch.device("meta"):
        model = CharLSTM(ModelConfig(vocab_size=11, embedding_size=8, hidden_size=16, num_layers=2))
    return model.set_backend(backend)


@pytest.mark.parametrize("backend", ["autograd", "manual"])
def test_forward_and_backward_stay_on_the_models_device(backend):
    model = meta_model(backend)
    tokens = torch.zeros(5, 3, dtype=torch.long, device="meta")
    logits, (H, C) = model(tokens)
    assert (logits.device, H.device, C.device) == (torch.device("meta"),) * 3
    assert logits.shape == (5, 3, 11) and H.shape == C.shape == (2, 3, 16)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in model.parameters())


def test_the_compiled_kernels_math_is_device_agnostic():
    """The compiled backend's step functions, before TorchInductor turns them into
    CPU (C++) or GPU (Triton) code, run through the same loop on any device."""
    kernels = StepKernels(step_forward, step_backward_into)
    XW = torch.randn(5, 3, 64, device="meta", requires_grad=True)
    H0 = torch.zeros(3, 16, device="meta")
    W_h = torch.randn(16, 64, device="meta", requires_grad=True)
    outputs, H, C = run_sequence(XW, H0, H0.clone(), W_h, kernels)
    outputs.sum().backward()
    assert outputs.device.type == H.device.type == XW.grad.device.type == W_h.grad.device.type == "meta"


def test_the_trainer_keeps_its_data_on_the_given_device():
    vocab = Vocabulary.from_text(TEXT)
    config = TrainConfig(epochs=1, batch_size=4, seq_len=20)
    model = meta_model("manual")
    with torch.device("meta"):
        model.embedding = torch.nn.Embedding(len(vocab), 8)
        model.head = torch.nn.Linear(16, len(vocab))
    trainer = Trainer(model, vocab, *split_ids(vocab.encode(TEXT), 0.1), config, device="meta")
    assert trainer.train_data.device.type == trainer.val_data.device.type == "meta"
