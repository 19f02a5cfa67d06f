"""What the virtual camera sees: a street the camera pans along, with a
walker crossing and a crowd that thickens and thins, the frame number and
capture time drawn in. Frames are real JPEGs (Pillow), sized like an
OV2640's at the same frame size and quality. The driver turns our quality
(0-100) into the sensor's quantization scale QS (63-0, cnadler86's map:
settings.driver_qs); the typical sizes in firmware/settings.py are at QS 10
(our default, 85). Pillow's quality is calibrated so the mean frame matches
that size at QS 10, and QS scales the quantization tables from there
linearly, as libjpeg's scale factor does (the register is the OV2640's
"quantization scale"): QS 5 is half of QS 10's quantizer, QS 20 double."""
import io
import math
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bodycam.resources import shared

CROWD_PERIOD_MS = 20000  # the scene gets busier and calmer over this period
SAMPLE_FRAMES = (0, 23, 51, 77)  # frames the calibration measures


class Scene:
    def __init__(self, framesize, quality, seed=7):
        s = shared("settings")
        if framesize not in s.FRAMESIZES:
            raise ValueError("unknown frame size %r" % framesize)
        self.framesize = framesize
        self.w, self.h, self.typical = s.FRAMESIZES[framesize]
        self.quality = quality
        self.qs = s.driver_qs(quality)
        self.rng = random.Random(seed)
        self.pano = _panorama(self.w, self.h, seed)
        self.font = ImageFont.load_default(size=max(10, self.h // 18))
        self.pil_quality = pil_quality_for_qs(self._calibrate(), self.qs)

    def draw(self, k, t_ms):
        w, h = self.w, self.h
        span = self.pano.width - w
        x0 = int(k * w / 160) % (2 * span)
        x0 = x0 if x0 <= span else 2 * span - x0  # pan back and forth
        im = self.pano.crop((x0, 0, x0 + w, h))
        d = ImageDraw.Draw(im)
        ground = h * 11 // 20
        # The crowd: figures with detail, more or fewer over time.
        busy = 0.5 + 0.5 * math.sin(2 * math.pi * t_ms / CROWD_PERIOD_MS)
        rng = random.Random(k // 3)
        for _ in range(int(4 + 14 * busy)):
            px = rng.randrange(w)
            py = ground + rng.randrange(max(1, h - ground - h // 8))
            _figure(d, px, py, max(4, h // 12), rng)
        # A walker crossing, larger, in front.
        wx = int((k * w / 60) % (w + w // 4)) - w // 8
        _figure(d, wx, h - h // 5, h // 4, random.Random(3), coat=(190, 60, 40))
        bar = self.font.size + 6
        d.rectangle((0, 0, w, bar), fill=(0, 0, 0))
        d.text((4, 3), "#%06d  %10.3f s" % (k, t_ms / 1000.0), fill=(255, 255, 255), font=self.font)
        return im

    def render(self, k, t_ms):
        return _jpeg(self.draw(k, t_ms), self.pil_quality)

    def sample_max(self):
        """The largest of the calibration's sample frames at this quality."""
        return max(len(_jpeg(self.draw(k, k * 97), self.pil_quality)) for k in SAMPLE_FRAMES)

    def _mean(self, pil_q):
        sizes = [len(_jpeg(self.draw(k, k * 97), pil_q)) for k in SAMPLE_FRAMES]
        return sum(sizes) / len(sizes)

    def _calibrate(self):
        """Pillow's quality whose mean frame is the typical size: QS 10."""
        lo, hi = 5, 95
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._mean(mid) > self.typical:
                hi = mid
            else:
                lo = mid
        return lo


def _scale(pil_q):
    # libjpeg's quality -> quantization table scale (%), jpeg_quality_scaling
    return 5000.0 / pil_q if pil_q < 50 else 200.0 - 2 * pil_q


def pil_quality_for_qs(pil_q10, qs):
    """Pillow's quality for sensor QS, given the one that stands for QS 10:
    the table scale grows linearly with QS (QS 0: the finest, Pillow 100)."""
    s = max(1.0, _scale(pil_q10) * qs / 10.0)
    q = 5000.0 / s if s > 100 else (200.0 - s) / 2
    return max(1, min(100, int(round(q))))


def _jpeg(im, q):
    out = io.BytesIO()
    im.save(out, "JPEG", quality=q)
    return out.getvalue()


def _figure(d, x, y, size, rng, coat=None):
    # A person: head, coat, legs; enough edges to cost JPEG bytes.
    c = coat or (rng.randrange(30, 220), rng.randrange(30, 220), rng.randrange(30, 220))
    hw = max(2, size // 6)
    d.ellipse((x - hw, y - size, x + hw, y - size + 2 * hw), fill=(225, 190, 160))
    d.rectangle((x - size // 4, y - size + 2 * hw, x + size // 4, y - size // 3), fill=c)
    d.rectangle((x - size // 5, y - size // 3, x - 1, y), fill=(40, 40, 60))
    d.rectangle((x + 1, y - size // 3, x + size // 5, y), fill=(40, 40, 60))


@lru_cache(maxsize=4)
def _panorama(w, h, seed):
    """A street three frames wide: sky, buildings with windows, a road."""
    rng = random.Random(seed)
    pw = w * 3
    im = Image.new("RGB", (pw, h))
    d = ImageDraw.Draw(im)
    hz = h * 11 // 20
    for y in range(hz):
        d.line([(0, y), (pw, y)], fill=(90 + y * 60 // hz, 130 + y * 50 // hz, 190 + y * 30 // hz))
    for y in range(hz, h):
        g = (y - hz) * 60 // (h - hz)
        d.line([(0, y), (pw, y)], fill=(70 + g, 75 + g, 70 + g))
    x = 0
    while x < pw:
        bw, bh = rng.randrange(w // 12, w // 4), rng.randrange(h // 6, h // 2)
        c = rng.randrange(90, 200)
        d.rectangle((x, hz - bh, x + bw, hz), fill=(c, c - 10 - rng.randrange(30), c - 20 - rng.randrange(40)))
        for wy in range(hz - bh + h // 40, hz - h // 30, max(4, h // 24)):
            for wx in range(x + w // 80, x + bw - w // 60, max(4, w // 28)):
                if rng.random() < 0.8:
                    lv = rng.randrange(40, 230)
                    d.rectangle((wx, wy, wx + max(2, w // 90), wy + max(2, h // 60)), fill=(lv, lv, lv - 20))
        x += bw + rng.randrange(0, w // 20)
    return im.filter(ImageFilter.GaussianBlur(max(0.6, w / 640)))


def size_factors(framesizes, qs_values, frames=SAMPLE_FRAMES):
    """{qs: mean JPEG size at qs / mean size at QS 10}, averaged over
    framesizes: what firmware/settings.py's QS_SIZE table holds."""
    out = {}
    for fs in framesizes:
        sc = Scene(fs, 85)  # QS 10
        p10 = sc.pil_quality
        base = sc._mean(p10)
        for qs in qs_values:
            sizes = [len(_jpeg(sc.draw(k, k * 97), pil_quality_for_qs(p10, qs))) for k in frames]
            out.setdefault(qs, []).append(sum(sizes) / len(sizes) / base)
    return {qs: sum(v) / len(v) for qs, v in out.items()}
