"""A signal delivered to a worker thread still stops a main thread waiting on an event."""

from __future__ import annotations

import signal
import threading
import time

from fedscreen.signals import wait_for


def test_a_signal_caught_by_another_thread_wakes_the_waiting_main_thread() -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    try:
        # The C handler runs in the worker; only the main thread can run the Python one,
        # and an untimed Event.wait() there never wakes to do so (it would wait 10 s here).
        def kill_self_later() -> None:
            time.sleep(0.3)  # the main thread is blocked in the wait by then
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

        worker = threading.Thread(target=kill_self_later)
        started = time.monotonic()
        worker.start()
        assert wait_for(stop, timeout=10)
        assert time.monotonic() - started < 2
        worker.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_times_out_with_false_when_nothing_sets_the_event() -> None:
    started = time.monotonic()
    assert wait_for(threading.Event(), timeout=0.3) is False
    assert 0.25 < time.monotonic() - started < 1.5
