"""Reading a shot list's YAML: the safe loader only, every value with the line it was written on, an alias
bomb refused by a node budget, and a fast path for plain files that reads no lines at all."""

from __future__ import annotations

from typing import Any

import yaml

from shotrender.errors import Problem
from shotrender.shotlist.schema import ALIAS_BUDGET

# ---------------------------------------------------------------------------------------------- YAML


_STR_TAG = "tag:yaml.org,2002:str"
REPEATED = " is given twice"  # a repeated key's problem: its first value is kept, the rest of the file still checked


class _Walk:
    """Turns a composed YAML node tree into plain values; with `track`, remembers each path's line.

    Walking the nodes ourselves (rather than PyYAML's constructor) is what lets us refuse tags, report
    repeated keys with their line, and count alias expansions; it is also 20 times faster.
    """

    def __init__(self, loader, source: str, problems: list[Problem], track: bool):
        self.loader = loader
        self.source = source
        self.problems = problems
        self.lines: dict[tuple, int] | None = {} if track else None
        self.seen: set[int] = set()
        self.budget = ALIAS_BUDGET

    def value(self, node: yaml.Node, path: tuple | None, repeated: bool = False) -> Any:
        if node.__class__ is yaml.ScalarNode and node.tag == _STR_TAG:
            if self.lines is not None:
                self.lines.setdefault(path, node.start_mark.line + 1)
            return node.value
        # An alias makes the composer hand back a node already seen; only such repeats are counted,
        # so a large honest file is never refused and an alias bomb is, long before memory runs out.
        repeated = repeated or id(node) in self.seen
        self.seen.add(id(node))
        if repeated:
            self.budget -= 1
            if self.budget < 0:
                raise _TooLarge(node.start_mark.line + 1)
        if self.lines is not None:
            self.lines.setdefault(path, node.start_mark.line + 1)
        if not node.tag.startswith("tag:yaml.org,2002:") or "python" in node.tag:
            self.problems.append(Problem(self.source, node.start_mark.line + 1, _fmt(path or ()),
                                         f"the tag {node.tag} is not allowed", "remove it; write plain values"))
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(self.source, key_node.start_mark.line + 1, _fmt(path or ()),
                                                 "a key must be plain text", "write key: value"))
                    continue
                key = key_node.value if key_node.tag == _STR_TAG else self.scalar(key_node, path)
                if key.__class__ is not str and not _hashable(key):  # `!!set :` makes a key of a set
                    self.problems.append(Problem(self.source, key_node.start_mark.line + 1, _fmt(path or ()),
                                                 f"a key must be plain text, not {key_node.tag}", "write key: value"))
                    continue
                if key in out:
                    self.problems.append(Problem(
                        self.source, key_node.start_mark.line + 1, _fmt((*(path or ()), key)),
                        f"'{key}'{REPEATED}", "keep one of them"))
                    continue
                if self.lines is not None and path is not None and value_node.__class__ is yaml.MappingNode:
                    # a block mapping's problems point at its key (`to:`), not at its first entry's line
                    self.lines.setdefault((*path, key), key_node.start_mark.line + 1)
                out[key] = self.value(value_node, None if path is None else (*path, key), repeated)
            return out
        if isinstance(node, yaml.SequenceNode):
            if path is None:
                return [self.value(item, None, repeated) for item in node.value]
            return [self.value(item, (*path, i), repeated) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: tuple | None) -> Any:
        try:
            return self.loader.construct_object(node)
        except (ValueError, KeyError, AttributeError, TypeError, IndexError, OverflowError):  # 2024-13-45, !!int abc
            self.problems.append(Problem(
                self.source, node.start_mark.line + 1, _fmt(path or ()),
                f"cannot read {node.value!r} as {_KINDS.get(node.tag, node.tag)}",
                "put it in quotes to keep it as text, or write a valid value"))
            return None


_KINDS = {"tag:yaml.org,2002:timestamp": "a date", "tag:yaml.org,2002:int": "a whole number",
          "tag:yaml.org,2002:float": "a number", "tag:yaml.org,2002:bool": "true or false"}


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _TooLarge(Exception):
    def __init__(self, line: int):
        self.line = line


def _fmt(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser is 20x faster than the pure-Python one. Its events are read on the happy path
# (`_read_plain`), its composer on the careful path (`_read_yaml`); PyYAML's constructor never runs.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_DEPTH = 64  # a shot list nests five levels; the composer recurses, and thousands of levels crash it


def _too_deep(text: str) -> int | None:
    """The line where lists or mappings nest deeper than MAX_DEPTH, found from the parser's events alone."""
    loader = _Loader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark and getattr(e, "problem", None) == "exceeded maximum nesting depth":  # libyaml's cap (1,000)
            return mark.line + 1
        return None  # another syntax error: the composer reports it, as far as it gets
    finally:
        loader.dispose()
    return None


def _read_yaml(text: str, source: str, problems: list[Problem], track: bool) -> tuple[Any, dict[tuple, int]]:
    deep = _too_deep(text)
    if deep is not None:
        problems.append(Problem(source, deep, "", f"lists or mappings nest more than {MAX_DEPTH} levels deep",
                                "a shot list needs five levels at most; check the brackets"))
        return None, {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        walk = _Walk(loader, source, problems, track)
        return walk.value(node, () if track else None), walk.lines or {}
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        problems.append(Problem(source, line, "", f"YAML syntax error: {what}",
                                "check indentation, colons and quotes on this line and the one before"))
    except yaml.YAMLError as e:
        problems.append(Problem(source, None, "", f"YAML error: {e}", "fix the file's syntax"))
    except _TooLarge as e:
        problems.append(Problem(source, e.line, "", "the YAML expands to too many values (an alias bomb?)",
                                "remove the aliases (*name) that repeat large blocks"))
    except RecursionError:  # aliases of aliases can nest deeper than the text does
        problems.append(Problem(source, None, "", "aliases (*name) nest values thousands of levels deep",
                                "write the values out instead of chaining aliases"))
    finally:
        loader.dispose()
    return None, {}


class _NotPlain(Exception):
    """The happy path met something it leaves to the careful path."""


# The safe resolver's own table of implicit types (by first character), used as it uses it; and the safe
# constructors of the plain scalars that table can give. Anything else (merge keys, ...) is left to the careful path.
_IMPLICIT = {first: tuple(resolvers) for first, resolvers in _Loader.yaml_implicit_resolvers.items()}
_IMPLICIT_ANY = _IMPLICIT.pop(None, ())
_SCALARS = {tag: _Loader.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp")}
_INT_TAG = "tag:yaml.org,2002:int"


def _read_plain(text: str) -> Any:
    """The happy path: values built straight from libyaml's events, without nodes, resolver calls or lines.

    It takes only what it reads exactly as the careful path (`_read_yaml`) would: mappings, sequences and
    untagged scalars, typed by the safe resolver's table and built by the safe constructors. An anchor, an
    alias, a tag, a key given twice or that is not a scalar, more than one document or a syntax error raise
    _NotPlain, and the file is read again the careful way, which reports or counts what it found.
    """
    loader = _Loader(text)
    get = loader.get_event
    implicit = _IMPLICIT.get
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    try:
        if get().__class__ is not yaml.StreamStartEvent:
            raise _NotPlain
        event = get()
        if event.__class__ is yaml.StreamEndEvent:
            return None
        if event.__class__ is not yaml.DocumentStartEvent:
            raise _NotPlain
        root: Any = None
        stack: list[Any] = []
        container: Any = None  # the dict or list being filled; None for the document itself
        in_map = False
        key: Any = None
        want_key = False  # in a mapping: the next event is a key
        while True:
            event = get()
            kind = event.__class__
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    raise _NotPlain
                value = event.value
                if event.implicit[0]:
                    for tag, regexp in implicit(value[:1], _IMPLICIT_ANY):
                        if regexp.match(value):
                            if tag == _INT_TAG and value.isdecimal() and (value[0] != "0" or len(value) == 1):
                                value = int(value)
                            elif tag in _SCALARS:
                                value = _SCALARS[tag](loader, yaml.ScalarNode(tag, value))
                            else:
                                raise _NotPlain
                            break
                if want_key:
                    if value in container:
                        raise _NotPlain
                    key, want_key = value, False
                    continue
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None or want_key:
                    raise _NotPlain
                value = {} if kind is mapping_start else []
            elif kind is mapping_end or kind is sequence_end:
                if not stack:
                    raise _NotPlain
                container, in_map = stack.pop()
                want_key = in_map
                if stack:
                    continue
                break
            else:
                raise _NotPlain  # an alias
            if in_map:
                container[key] = value
                want_key = True
            elif container is not None:
                container.append(value)
            else:
                root = value
            if kind is not scalar:
                stack.append((container, in_map))
                container, in_map, want_key = value, kind is mapping_start, kind is mapping_start
            elif not stack:
                break
        if get().__class__ is not yaml.DocumentEndEvent or get().__class__ is not yaml.StreamEndEvent:
            raise _NotPlain  # another document follows
        return root
    except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError, IndexError, OverflowError) as e:
        raise _NotPlain from e  # the careful path reports it
    finally:
        loader.dispose()


