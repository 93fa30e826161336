"""The operator side of the Pi link: SSH to each Pi, its service status, commands, captures."""
