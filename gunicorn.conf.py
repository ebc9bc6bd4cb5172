"""gunicorn settings: read by every `gunicorn wsgi:app` started from the project folder (make run
passes it explicitly; tests start gunicorn there too).

The access log format leaves out every atom that can carry credentials: %(u)s (gunicorn decodes
the user name of HTTP Basic: the access key), %(r)s and %(q)s (the query string, where a client
may put a token or a key), %(f)s (a referer can hold the same), and any request header. What is
left says who called what, how it ended and how long it took.
"""
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
