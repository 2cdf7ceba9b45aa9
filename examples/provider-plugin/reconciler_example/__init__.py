"""An example reconciler provider plugin: the fictional Example Lists API and its emulator."""
