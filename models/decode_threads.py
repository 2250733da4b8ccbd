"""How many threads each decode step of a large model uses, chosen from the steps' own times.

A large model's decode step is a few big matrix-vector products: on an idle 2-core EPYC Gemma 4
E2B took 0.23 s per token on 2 threads against 0.37 s on 1, but with one core busy elsewhere
(speech synthesis, a screen reader, another program) 0.89 s on 2 against 0.43 s on 1. The load
changes within one answer (speech starts after the first sentence), so the count is chosen per
step: the one whose recent steps were faster, with the other one tried again now and then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SMOOTHING = 0.3  # weight of the newest step in a count's running time
RETRY_EVERY = 12  # steps between tries of the count that is not in use
SLOWER = 1.3  # on all threads, the other count is tried again only once steps got this much slower


@dataclass
class DecodeThreads:
    """Picks the thread count of the next decode step; `record` the time each step took.

    On fewer threads than it has, the other count is tried every RETRY_EVERY steps (the load
    that made it slower may be gone). On all threads, a slowdown past the other count's time
    switches by itself; the other count is tried again only once the steps are SLOWER than the
    fastest they ran, in case its own time is stale. An idle machine thus decodes on all threads
    with no tries: on a 2-core EPYC, int8 Gemma 4 E2B, one chooser over three 16-token answers,
    0.142 s per token against 0.158 s with a try every 12 steps (fixed: 0.149 s on 2 threads,
    0.250 s on 1).
    """

    most: int
    _seconds: dict[int, float] = field(default_factory=dict)
    _fastest: dict[int, float] = field(default_factory=dict)
    _since_try: int = 0

    @property
    def counts(self) -> tuple[int, ...]:
        return (self.most, 1) if self.most > 1 else (1,)

    def next(self) -> int:
        """The thread count for the next step."""
        untried = [count for count in self.counts if count not in self._seconds]
        if untried:
            return untried[0]
        best = min(self.counts, key=self._seconds.__getitem__)
        if len(self.counts) == 1 or self._since_try < RETRY_EVERY - 1:
            return best
        # (the count in use can become the best without a step on it since the last try)
        if best == self.most and self._seconds[best] <= SLOWER * self._fastest.get(best, self._seconds[best]):
            return best
        return next(count for count in self.counts if count != best)

    def record(self, count: int, seconds: float) -> None:
        """One step on `count` threads took `seconds`.

        The count in use is smoothed over its steps; a try of the other one replaces that
        one's old time, since the load it was measured under may be gone."""
        in_use = min(self._seconds, key=self._seconds.__getitem__) if self._seconds else count
        old = self._seconds.get(count)
        fresh = old is None or count != in_use
        self._seconds[count] = seconds if fresh else (1 - SMOOTHING) * old + SMOOTHING * seconds
        if fresh:  # a try (or a first step): the fastest times are measured anew from here
            self._since_try = 0
            self._fastest = {}
        else:
            self._since_try += 1
        self._fastest[count] = min(self._fastest.get(count, self._seconds[count]), self._seconds[count])

    def running_seconds(self) -> dict[int, float]:
        """The running step time per thread count tried so far (for logs and the benchmark)."""
        return dict(self._seconds)
