"""Vision: batched face, head-pose, gaze and expression inference on frame chunks."""
