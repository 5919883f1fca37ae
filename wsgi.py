"""What gunicorn serves: ``gunicorn wsgi:app``."""

import sys

from gridgov import create_app

try:
    app = create_app()
except ValueError as error:  # a setting that makes no sense: one line naming it, not a traceback per worker
    print(f"gridgov cannot start: {error}", file=sys.stderr)
    # gunicorn's "worker failed to boot": its master stops, rather than start the worker again for ever.
    sys.exit(3)
