"""The Defender: runtime protection of running containers and their hosts.

Sensors (the kernel proc connector, sock_diag and ``/proc/net``, fanotify) turn what
happens on a host into the records of :mod:`stockade.runtime.events`; everything that
judges those records, starting with the Falco rules engine of
:mod:`stockade.runtime.rules`, is pure and takes events as data.
"""
