"""ChromTransfer network: body, heads, presets, save/load."""
