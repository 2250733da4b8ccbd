"""Speech out: answers cut into utterances and spoken through our own voices or the screen reader,
the sound device, and the earcons."""
