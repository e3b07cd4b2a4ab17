"""Image renderers for the withdrawal chart: the view hands them ready-made bytes."""

from rest_framework.renderers import BaseRenderer


class _ImageRenderer(BaseRenderer):
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, bytes):
            raise TypeError("The chart renderers only pass rendered images through.")
        return data


class PNGRenderer(_ImageRenderer):
    media_type = "image/png"
    format = "png"


class SVGRenderer(_ImageRenderer):
    media_type = "image/svg+xml"
    format = "svg"
