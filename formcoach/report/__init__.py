"""PT reports: self-contained HTML, CSV exports, annotated video, progress across sessions."""

from __future__ import annotations

from formcoach.report.html import build_html, write_html_report
from formcoach.report.tables import rep_columns, write_csv, write_frames_csv
from formcoach.report.video import write_annotated_video

__all__ = [
    "build_html",
    "rep_columns",
    "write_annotated_video",
    "write_csv",
    "write_frames_csv",
    "write_html_report",
]
