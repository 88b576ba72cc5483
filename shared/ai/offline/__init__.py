"""The algorithms of the offline provider, one task per module; pure functions of the text."""
