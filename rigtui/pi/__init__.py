"""The Raspberry Pi camera service: capture into a ring buffer, night mode, triggered export."""
