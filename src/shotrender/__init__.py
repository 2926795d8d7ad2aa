"""shotrender: paint the backgrounds of an animated episode from its layouts and a YAML shot list."""

__version__ = "0.1.0"
