"""The withdrawal chart: COWS/CIWA-Ar totals (left axis, with the alert thresholds) and pulse (right axis)
over time, drawn with matplotlib's Agg canvas (no display, no global pyplot state: safe in web workers).

The chart shows no name, only scores, pulse and times (UTC).
"""

from __future__ import annotations

import io

from .selectors import WithdrawalSeries

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
LABELS = {"cows": "COWS total", "ciwa_ar": "CIWA-Ar total"}
COLOURS = {"cows": "#c0392b", "ciwa_ar": "#2c7fb8", "pulse": "#7f7f7f"}


def render_withdrawal_chart(series: WithdrawalSeries, *, image_format: str = "png") -> bytes:
    """The chart as PNG or SVG bytes."""
    if image_format not in FORMATS:
        raise ValueError(f"Unknown image format {image_format!r}.")
    # Imported here: matplotlib is heavy and only this endpoint needs it.
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    scores_axis = figure.add_subplot()
    pulse_axis = scores_axis.twinx()
    drawn = False
    for code, points in series.scores.items():
        if not points:
            continue
        drawn = True
        scores_axis.plot(
            [p.observed_at for p in points],
            [p.total for p in points],
            marker="o",
            markersize=4,
            linewidth=1.8,
            color=COLOURS[code],
            label=LABELS[code],
        )
        if code in series.thresholds:
            scores_axis.axhline(
                series.thresholds[code],
                color=COLOURS[code],
                linestyle="--",
                linewidth=0.9,
                alpha=0.7,
                label=f"{LABELS[code].split()[0]} alert threshold ({series.thresholds[code]})",
            )
    if series.pulse:
        drawn = True
        pulse_axis.plot(
            [p.observed_at for p in series.pulse],
            [p.pulse for p in series.pulse],
            marker="s",
            markersize=3,
            linewidth=1.2,
            linestyle=":",
            color=COLOURS["pulse"],
            label="Pulse (beats/min)",
        )
    if series.started_at is not None:
        scores_axis.axvline(series.started_at, color="#444444", linewidth=0.8, alpha=0.6)
    if series.ended_at is not None:
        scores_axis.axvline(series.ended_at, color="#444444", linewidth=0.8, alpha=0.6)

    scores_axis.set_title("Withdrawal scores and pulse")
    scores_axis.set_ylabel("Score (total)")
    scores_axis.set_ylim(bottom=0)
    pulse_axis.set_ylabel("Pulse (beats/min)")
    pulse_axis.set_ylim(40, max([p.pulse for p in series.pulse], default=120) + 20)
    scores_axis.grid(True, axis="y", alpha=0.3)
    if drawn:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
        scores_axis.xaxis.set_major_locator(locator)
        scores_axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        scores_axis.set_xlabel("Time (UTC)")
        handles, labels = scores_axis.get_legend_handles_labels()
        pulse_handles, pulse_labels = pulse_axis.get_legend_handles_labels()
        scores_axis.legend(handles + pulse_handles, labels + pulse_labels, loc="upper right", fontsize="small")
    else:
        scores_axis.set_xticks([])
        scores_axis.text(0.5, 0.5, "No withdrawal scores recorded yet", ha="center", va="center",
                         transform=scores_axis.transAxes)  # fmt: skip

    buffer = io.BytesIO()
    # No creation date in the file: the same data gives the same image.
    metadata = {"Software": None} if image_format == "png" else {"Date": None}
    figure.savefig(buffer, format=image_format, metadata=metadata)
    return buffer.getvalue()
