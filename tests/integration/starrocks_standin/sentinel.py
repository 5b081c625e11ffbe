"""A marker: "this handler does not answer the statement, try the next"."""

NOT_SPECIAL = object()
