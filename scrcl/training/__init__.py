"""The training machinery: the loop and its plan (``train``), the model's inputs as tensors
(``inputs``), mini-batches (``minibatch``), the losses in row chunks (``chunked_loss``),
arithmetic (``precision``), checkpoints (``checkpoint``), data-parallel training
(``distributed``) and the memory check before a run (``memory``).

These modules lived at the top of ``scrcl`` until version 0.2; the old names
(``scrcl.train``, ``scrcl.precision``, ...) still import the same modules for one release.
"""
