# Board profiles (boards/*.json): loaded and checked the same way by the
# firmware (MicroPython) and the host (CPython), so both refuse the same bad
# profile with the same message naming the field.
import json

CHIPS = ("esp32", "esp32s3")
CAMERA_PINS = ("pwdn", "reset", "xclk", "siod", "sioc", "vsync", "href", "pclk")
STORAGE_KINDS = ("sd", "flash")


class BoardError(ValueError):
    pass


def load(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise BoardError("cannot read board profile %s: %s" % (path, e))
    try:
        d = json.loads(text)
    except ValueError as e:
        raise BoardError("board profile %s is not valid JSON: %s" % (path, e))
    return validate(d, path)


def _need(d, key, where, kind):
    if key not in d:
        raise BoardError("%s: missing field '%s'" % (where, key))
    v = d[key]
    if kind is int and (not isinstance(v, int) or isinstance(v, bool)):
        raise BoardError("%s: field '%s' must be a whole number, not %r" % (where, key, v))
    if kind is not int and not isinstance(v, kind):
        raise BoardError("%s: field '%s' has the wrong type (%r)" % (where, key, v))
    return v


def _pin(v, field, where):
    if not isinstance(v, int) or isinstance(v, bool) or v < -1 or v > 48:
        raise BoardError("%s: field '%s' must be a GPIO number 0-48 (or -1 for none), not %r" % (where, field, v))
    return v


def validate(d, where="board profile"):
    if not isinstance(d, dict):
        raise BoardError("%s: must be a JSON object" % where)
    bid = _need(d, "id", where, str)
    where = "board '%s'" % bid
    _need(d, "name", where, str)
    chip = _need(d, "chip", where, str)
    if chip not in CHIPS:
        raise BoardError("%s: field 'chip' must be one of %s, not %r" % (where, ", ".join(CHIPS), chip))
    off = _need(d, "flash_offset", where, str)
    try:
        d["flash_offset_int"] = int(off, 16)
    except ValueError:
        raise BoardError("%s: field 'flash_offset' must be hex like '0x1000', not %r" % (where, off))
    if _need(d, "psram_bytes", where, int) < 1048576:
        raise BoardError("%s: field 'psram_bytes' must be at least 1 MiB: the pre-roll lives in PSRAM" % where)
    straps = _need(d, "strapping_pins", where, list)
    reserved = _need(d, "reserved_pins", where, list)

    used = {}  # pin -> field that uses it

    def use(pin, field):
        pin = _pin(pin, field, where)
        if pin < 0:
            return
        if pin in used:
            raise BoardError("%s: GPIO%d is used twice, by '%s' and '%s'" % (where, pin, used[pin], field))
        if pin in reserved:
            raise BoardError("%s: field '%s' uses GPIO%d, which is reserved (serial, PSRAM or USB)" % (where, field, pin))
        used[pin] = field

    cam = _need(d, "camera", where, dict)
    for k in CAMERA_PINS:
        use(_need(cam, k, where + " camera", int), "camera." + k)
    data = _need(cam, "data", where + " camera", list)
    if len(data) != 8:
        raise BoardError("%s: field 'camera.data' must list 8 pins (Y2..Y9), not %d" % (where, len(data)))
    for i, p in enumerate(data):
        use(p, "camera.data[%d]" % i)
    camera_pins = set(used)

    btn = _need(d, "button", where, dict)
    bpin = _pin(_need(btn, "pin", where + " button", int), "button.pin", where)
    if bpin < 0:
        raise BoardError("%s: field 'button.pin' must name a GPIO: recording needs a button" % where)
    if bpin in camera_pins:
        raise BoardError("%s: field 'button.pin' uses GPIO%d, which the camera needs (%s)" % (where, bpin, used[bpin]))
    if bpin in straps and not btn.get("allow_strapping"):
        raise BoardError("%s: field 'button.pin' uses strapping pin GPIO%d: a press at reset changes how the chip boots "
                         "(pick another pin, or set button.allow_strapping to the reason it is safe)" % (where, bpin))
    use(bpin, "button.pin")
    _need(btn, "active_low", where + " button", bool)

    for name, led in _need(d, "leds", where, dict).items():
        if not isinstance(led, dict):
            raise BoardError("%s: field 'leds.%s' must be an object with 'pin' and 'active_low'" % (where, name))
        use(_need(led, "pin", where + " leds." + name, int), "leds.%s.pin" % name)

    st = _need(d, "storage", where, dict)
    kind = _need(st, "kind", where + " storage", str)
    if kind not in STORAGE_KINDS:
        raise BoardError("%s: field 'storage.kind' must be 'sd' or 'flash', not %r" % (where, kind))
    if kind == "sd":
        slot = _need(st, "slot", where + " storage", int)
        if slot not in (1, 2, 3):
            raise BoardError("%s: field 'storage.slot' must be 1 or 2 (SDMMC) or 3 (SPI), not %r" % (where, slot))
        pins = _need(st, "pins", where + " storage", dict)
        for k in pins:
            use(pins[k], "storage.pins." + k)
    if "power_hold" in d:
        use(d["power_hold"], "power_hold")
    return d
