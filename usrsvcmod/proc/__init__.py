"""The process layer: /proc facts, pidfiles, identity, spawning and killing."""
