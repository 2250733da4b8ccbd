"""The per-step decode thread count follows the steps' own times."""

from models.decode_threads import RETRY_EVERY, DecodeThreads


def _run(chooser: DecodeThreads, seconds: dict[int, float], steps: int) -> list[int]:
    used = []
    for _ in range(steps):
        count = chooser.next()
        chooser.record(count, seconds[count])
        used.append(count)
    return used


def test_an_idle_machine_keeps_all_threads_and_never_tries_one_again():
    used = _run(DecodeThreads(2), {2: 0.23, 1: 0.37}, 8 * RETRY_EVERY)
    assert used[:2] == [2, 1]  # both are tried first
    assert used[2:] == [2] * (len(used) - 2)


def test_on_all_threads_a_slowdown_tries_one_thread_again_when_its_time_is_stale():
    chooser = DecodeThreads(2)
    _run(chooser, {2: 0.23, 1: 1.5}, 3)  # one thread was measured while the machine was swamped
    slowed = _run(chooser, {2: 0.89, 1: 0.43}, 3 * RETRY_EVERY)  # now one core is busy
    assert 1 in slowed[:RETRY_EVERY]
    assert slowed[-RETRY_EVERY:].count(1) >= RETRY_EVERY - 1


def test_a_busy_core_moves_decoding_to_one_thread_within_a_few_steps_and_back():
    chooser = DecodeThreads(2)
    _run(chooser, {2: 0.23, 1: 0.37}, 6)
    busy = _run(chooser, {2: 0.89, 1: 0.43}, 3 * RETRY_EVERY)
    assert busy[3:].count(1) >= len(busy[3:]) - 3  # at most the retries go back to two
    idle_again = _run(chooser, {2: 0.23, 1: 0.37}, 3 * RETRY_EVERY)
    assert idle_again[-RETRY_EVERY:].count(2) >= RETRY_EVERY - 1


def test_one_thread_machines_never_try_more():
    assert set(_run(DecodeThreads(1), {1: 0.4}, 30)) == {1}
    assert DecodeThreads(1).counts == (1,)
    chooser = DecodeThreads(2)
    _run(chooser, {2: 0.2, 1: 0.4}, 3)
    assert set(chooser.running_seconds()) == {1, 2}


def test_all_threads_best_again_with_no_step_on_them_since_the_try_keeps_them():
    """One thread was tried and stayed in use for RETRY_EVERY steps, slowing past the time all
    threads had: the next step goes back to all threads (this raised KeyError in a follow-up)."""
    chooser = DecodeThreads(2, _seconds={2: 0.30, 1: 0.40}, _fastest={1: 0.20}, _since_try=RETRY_EVERY)
    assert chooser.next() == 2
