"""The Voice: customer feedback routed to the owning team by a model that improves from analysts'
corrections, served and retrained by berth. See docs/the-voice.md."""
