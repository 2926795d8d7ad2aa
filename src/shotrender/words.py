"""Counts in English, for every message and page that says how many: `counted(1, "cut")` is "1 cut",
`counted(3, "cut")` "3 cuts" ("1 units", "1 cuts in 1 chains" read as typos to the person reading them)."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
