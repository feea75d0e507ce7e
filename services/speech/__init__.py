"""Speech: transcription, speaking behaviour and answer scoring per audio segment."""
