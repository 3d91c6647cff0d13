"""``formcoach serve``: the PT workspace, a local web app over the session database
(patients, prescriptions and adherence, sets linked to the moment in their video).

Starlette (ASGI, small, typed, with a test client) served by uvicorn; pages are rendered on
the server from Jinja2 templates (package data), with one small script (``static/app.js``).
Install with ``pip install 'formcoach[serve]'``. :func:`formcoach.serve.app.create_app` builds
the app.
"""

