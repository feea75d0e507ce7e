"""Vision: batched face, head-pose, gaze and expression inference on frame chunks.

* `stage`: the worker stage (frame-chunk-ready in, vision-features out, Parquet timeline stored).
* `batcher`: one queue shared by every chunk in flight, so chunks of all interviews share forward passes
  (on a CPU, batches run side by side on one thread per core).
* `analyzer`: per-frame pipeline (detection on downscaled frames, candidate face, pose, expression, quality).
* `registry`: the models, the packages their weights come from, licences, inputs and outputs.
* `retinaface`, `expression`, `pose`: the two networks and the 5-point head-pose solver; `inference` prepares
  the networks (batch norms folded into convolutions, channels-last memory).
* `features`, `signals`: per-chunk features (episodes, nods, shakes, expression aggregates, per-second rows).
* `timeline`: the Parquet layout of the per-frame timeline.
* `aggregate`: per-question behaviour from the chunks of one interview (used by fusion).

Facing the camera ("eye contact") is estimated from the head, not the eyes: head yaw and pitch within
limits and the head within a centre column of the picture (a candidate sits in front of the webcam; a
head that swings out of that column looks past it). No gaze model ships in an installable package.
"""
