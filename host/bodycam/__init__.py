"""bodycam: host tools for the ESP32-CAM body-worn camera firmware."""

__version__ = "0.1.0"
