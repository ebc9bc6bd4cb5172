"""gunicorn settings: read by every `gunicorn wsgi:app` started from the project folder (make run
passes it explicitly; tests start gunicorn there too).

The access log format leaves out every atom that can carry credentials: %(u)s (gunicorn decodes
the user name of HTTP Basic: the access key), %(r)s and %(q)s (the query string, where a client
may put a token or a key), %(f)s (a referer can hold the same), and any request header. What is
left says who called what, how it ended and how long it took.

Metrics (events_service/ops/metrics.py): every worker writes its samples to files in
PROMETHEUS_MULTIPROC_DIR, which must exist before a worker imports prometheus_client and must be
empty when the server starts (old files would be summed in). Unless the operator set it, a fresh
private folder is made here, in the master, before any worker is forked, and removed on exit; a
folder the operator set is emptied at start. A worker that exits has its live gauges dropped.
"""
import os
import shutil
import tempfile

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="events-metrics-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
