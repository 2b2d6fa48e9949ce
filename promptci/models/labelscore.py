"""Exact label scoring for the embedded model: every label's log-probability after a prompt, its tokens evaluated
in one batch.

A label of k tokens needs the model's distribution at k positions: the prompt's last token gives the first, and
each label token gives the next. Evaluating those tokens one at a time (one decode each, about 20 per item for the
bundled example's seven labels) cost 0.55 s an item on 2 cores; here each label lives in its own sequence of one
KV cache, a copy of the prompt's, and all their tokens go to the model in one decode (0.2 s an item). The prompt
itself is evaluated once, reusing whatever prefix the previous prompt left in the cache (shared few-shot text).

The scorer has its own llama.cpp context on the engine's model (a Llama object's context holds one sequence), made
with the engine's own context parameters so that the prompt's numbers are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import llama_cpp

SEQUENCES = 16  # sequence 0 holds the prompt; up to 15 labels are evaluated beside it in one decode
OUTPUTS = 64  # label tokens per decode: each needs a row of logits over the whole vocabulary (262k for Gemma 3)

Entry = tuple[int, int, int, bool]  # token, position, sequence, whether its logits are read


class LabelScorer:
    """One llama.cpp context whose KV cache holds a prompt in sequence 0 and a label in each other sequence."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm  # the model the context reads must outlive it
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_seq_max = SEQUENCES
        params.kv_unified = True  # the labels' sequences share the prompt's cells instead of copying them
        self.n_ctx = int(params.n_ctx)
        self.n_batch = int(params.n_batch)
        self.n_vocab = llm.n_vocab()
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not make a context for label scoring")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(max(self.n_batch, OUTPUTS), 0, SEQUENCES)
        self._tokens: list[int] = []  # what sequence 0 holds

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def score(self, tokens: Sequence[int], labels: Sequence[Sequence[int]]) -> list[float]:
        """Each label's total log-probability after the prompt `tokens` (each label at least one token)."""
        n = len(tokens)
        first = self._prompt(tokens)
        scores = [float(first[label[0]]) for label in labels]
        groups: list[list[int]] = [[]]
        for k, label in enumerate(labels):
            if len(label) < 2:
                continue
            group = groups[-1]
            if len(group) == SEQUENCES - 1 or n + sum(len(labels[j]) for j in group) + len(label) > self.n_ctx:
                groups.append(group := [])
            group.append(k)
        for group in filter(None, groups):
            entries: list[Entry] = []
            reads: list[tuple[int, int]] = []  # (label, the token its entry predicts)
            try:
                for seq, k in enumerate(group, start=1):
                    self._lib.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
                    for j, token in enumerate(labels[k][:-1]):
                        entries.append((token, n + j, seq, True))
                        reads.append((k, labels[k][j + 1]))
                for start in range(0, len(entries), OUTPUTS):
                    self._decode(entries[start : start + OUTPUTS])
                    for i, (k, token) in enumerate(reads[start : start + OUTPUTS]):
                        scores[k] += float(self._logprobs(i)[token])
            finally:  # whatever raised, no label's cells may stay for the next prompt's labels to read
                for seq in range(1, len(group) + 1):
                    self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        return scores

    def _prompt(self, tokens: Sequence[int]) -> Any:
        """Sequence 0 made to hold `tokens`, evaluating only what differs from what it holds; the log-probabilities
        of the token after them."""
        keep = 0
        for a, b in zip(self._tokens, tokens):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(tokens) - 1)  # the last token is evaluated again: its logits are the first label's
        self._lib.llama_memory_seq_rm(self._memory, 0, keep, -1)
        self._tokens = list(tokens[:keep])
        todo = [(t, keep + j, 0, keep + j == len(tokens) - 1) for j, t in enumerate(tokens[keep:])]
        chunk: list[Entry] = []
        for start in range(0, len(todo), self.n_batch):
            chunk = todo[start : start + self.n_batch]
            self._decode(chunk)
            self._tokens += [t for t, *_ in chunk]
        return self._logprobs(len(chunk) - 1)

    def _decode(self, entries: Sequence[Entry]) -> None:
        batch = self._batch
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, wanted) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, wanted
            batch.seq_id[i][0] = seq
        if code := self._lib.llama_decode(self._ctx, batch):
            self._tokens = []  # what the cache holds is unknown now: the next prompt is evaluated whole
            self._lib.llama_memory_seq_rm(self._memory, -1, -1, -1)
            raise RuntimeError(f"llama.cpp could not evaluate {len(entries)} tokens (llama_decode returned {code})")

    def _logprobs(self, i: int) -> Any:
        """Log-softmax of the logits of entry `i` of the last decode."""
        import numpy as np

        pointer = self._lib.llama_get_logits_ith(self._ctx, i)
        return self._lib.Llama.logits_to_logprobs(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)))
