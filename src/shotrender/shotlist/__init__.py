"""The shot list, version 1: schema as frozen dataclasses, `parse` (pure) and `load` (reads files).

Every problem in a file is collected in one pass and reported together, each with file:line, the field
path, the cut id where there is one, and how to fix it. YAML is read with the safe loader only, and
aliases are walked with a node budget so an alias bomb is refused instead of expanded.

The rooms: `schema` (the dataclasses, names and limits), `reader` (YAML with lines), `validation` (the
checks, `parse`), `files` (layouts, model path and output folder on disk, `load`).

>>> sl = parse(text, source="shots/ep01.yaml")      # pure: no file is opened
>>> sl = load("shots/ep01.yaml")                   # reads the file and checks the layouts it names
"""

from shotrender.shotlist.files import (  # noqa: F401
    MAX_SUGGESTED,
    OUTPUT_FIX,
    OUTSIDE_FIX,
    THUMBS,
    WRITTEN_FOLDERS,
    check_files,
    check_output,
    load,
    load_with_warnings,
    output_problems,
    top_key_line,
)
from shotrender.shotlist.reader import (  # noqa: F401
    MAX_DEPTH,
)
from shotrender.shotlist.schema import (  # noqa: F401
    ALIAS_BUDGET,
    ASPECT_TOLERANCE,
    BG_KEYS,
    CAMERA_KEYS,
    CHECKPOINT_SUFFIXES,
    CONTACT_SHEET,
    CONTINUITY_FIELDS,
    CUT_INFO,
    CUT_KEYS,
    CUT_PARAMS,
    FLOW_PRESETS,
    FRAMING_KEYS,
    HUB_ID_EXAMPLE,
    ID_RE,
    LAYOUT_FORMATS,
    MAX_FRAMES,
    MAX_ID_LENGTH,
    MAX_LAYOUT_PIXELS,
    MAX_SEED,
    MAX_SHOTLIST_BYTES,
    NUMBER_EXAMPLES,
    PARAM_DEFAULTS,
    REUSE_KEYS,
    TOP_KEYS,
    VARIANT_KEYS,
    VARIANT_STRENGTH,
    VERSION,
    Background,
    Continuity,
    Cut,
    Params,
    ShotList,
    Variant,
    frozen_instance,
    path_reason,
)
from shotrender.shotlist.validation import (  # noqa: F401
    gc_paused,
    parse,
    suggest_size,
)
