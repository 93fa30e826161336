"""The `rigtui` command line: parse, load config.toml once, hand the action to rigtui.ops, render."""
