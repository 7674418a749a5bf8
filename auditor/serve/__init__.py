"""``auditor serve``: the dashboard, served from the store (issue #17).

The same pages as the static reports (one rendering path: :class:`reports.html.HtmlRenderer`
renders each page to a string), a JSON API under ``/api/v1/`` and per-agency access:
an admin sees everything, an agency its own agency, hosts and zones, the public the ranked
summary only. Accounts, API tokens and the audit log live in the store (revision 0004).
The schedules' next and last runs (:mod:`auditor.serve.schedules`) are the admin's only.

Needs the ``serve`` extra (Starlette, uvicorn, argon2-cffi, itsdangerous, python-multipart,
croniter):
:mod:`auditor.serve.app` imports them, this package does not.
"""
