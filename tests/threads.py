"""Running test code in a thread that uses the database, as a second request would."""

import threading

from django.db import close_old_connections


def in_thread(target, results: list) -> threading.Thread:
    """Starts `target` in a thread; its return value goes to `results`, and the thread's
    database connection is closed when it ends."""

    def run():
        try:
            results.append(target())
        finally:
            close_old_connections()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
