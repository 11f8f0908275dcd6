"""Wrong on purpose: `make demo` type-checks this file to show what CI would catch.

Kept out of `make typecheck` (see mypy.ini and pyrightconfig.json).
"""

from shop.tasks import send_welcome, total

send_welcome.enqueue("42", locale="fr")  # user_id must be an int
send_welcome.enqueue(42, language="fr")  # no such parameter
total.enqueue()  # prices is required
result = send_welcome.enqueue(42)
greeting: str = result.return_value  # it is a bool
