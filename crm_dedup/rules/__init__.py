"""Rule form helpers: the field picker and field checks, presets, and the key index rebuild."""
