"""The Open GoPro HTTP client side of rigtui: protocol facts, client, discovery, rig."""
