"""Speech in: the microphone recording of a spoken question, its transcription for the engine, and
the spoken "find" phrases."""
