"""Waiting for something to happen, not for an amount of time."""
import gevent


def eventually(condition, timeout=5.0, what="the condition", interval=0.01):
    """Poll ``condition()`` on the gevent hub until it returns something true, and return that.

    AssertionError naming ``what`` after ``timeout`` seconds: a deadline that only a broken
    test or a broken product reaches, never a guess at how long something takes."""
    with gevent.Timeout(timeout, AssertionError("%s never held within %ss" % (what, timeout))):
        while True:
            value = condition()
            if value:
                return value
            gevent.sleep(interval)
