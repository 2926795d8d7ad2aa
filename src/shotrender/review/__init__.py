"""The director's review loop: decisions on each cut's picture, every take kept, and the review page.

`decisions` reads and writes the decisions file beside the shot list (the record); `takes` keeps every
picture a cut has had under `<out>/takes/`; `server` serves the review page (Starlette, imported only by
`shotrender review`). state.py and render.py ask `decisions` which pictures are approved and which cuts
wait for a retake; nothing here imports torch.
"""
