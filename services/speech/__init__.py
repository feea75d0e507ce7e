"""Speech: transcription, speaking behaviour and answer scoring per audio segment.

Modules: ``weights`` (Whisper weights from installed packages, assembled and converted once), ``engines``
(faster-whisper and openai-whisper behind one interface), ``fillers`` (lexicons and the filler prompt),
``metrics`` (rate, pauses, pitch and loudness variation), ``lexicons`` and ``scoring`` (answers against the
job's competency model, see docs/competency-models.md), ``text`` (transcripts as timed text), ``stage``
(the worker: audio-ready in, speech-results out), ``wer`` and ``cer`` (word error rate of English and
character error rate of Mandarin against the text spoken, for tests and the benchmark).
"""
